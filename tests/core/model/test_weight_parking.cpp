// WeightParking: a module's GPU tensors go to host memory and come back unchanged. On a CPU
// test device there is nothing to park, which is checked too.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "model/layers.h"
#include "model/weight_parking.h"
#include "skyreels/error.h"
#include "telemetry/device_memory.h"
#include "test_support.h"

namespace model = skyreels::model;
namespace telemetry = skyreels::telemetry;
using skyreels::test::test_device;

namespace {

// Two Linears and a buffer, filled with values that must survive the round trip bit for bit.
struct Net : torch::nn::Module {
  explicit Net(const at::TensorOptions& options)
      : a(register_module("a", model::Linear(64, 256, true, options))),
        b(register_module("b", model::Linear(256, 64, false, options))),
        table(register_buffer("table", at::randn({16, 8}, options.dtype(at::kFloat)))) {
    a->weight.copy_(at::randn_like(a->weight));
    a->bias.copy_(at::randn_like(a->bias));
    b->weight.copy_(at::randn_like(b->weight));
  }
  model::Linear a, b;
  at::Tensor table;
};

TEST(WeightParking, GpuTensorsGoToHostMemoryAndComeBackUnchanged) {
  torch::NoGradGuard no_grad;
  const auto device = test_device();
  Net net(at::TensorOptions().device(device).dtype(at::kBFloat16));
  const auto x = at::randn({3, 64}, at::TensorOptions().device(device).dtype(at::kBFloat16));
  const auto before = net.b->forward(net.a->forward(x)).to(at::kCPU);
  const auto a_weight = net.a->weight.to(at::kCPU), table = net.table.to(at::kCPU);

  model::WeightParking parking;
  telemetry::synchronize(device);
  const auto allocated = telemetry::memory_stats(device).allocated_bytes;
  const std::int64_t bytes = (64 * 256 + 256 + 256 * 64) * 2 + 16 * 8 * 4;
  EXPECT_EQ(model::WeightParking::device_bytes(net), device.is_cuda() ? bytes : 0);
  parking.park(net);
  if (!device.is_cuda()) {
    EXPECT_FALSE(parking.parked());  // nothing on a GPU: nothing moves
    EXPECT_EQ(net.a->weight.device(), device);
    return;
  }
  ASSERT_TRUE(parking.parked());
  EXPECT_EQ(model::WeightParking::device_bytes(net), 0);  // nothing left on the GPU
  EXPECT_TRUE(net.a->weight.device().is_cpu());
  EXPECT_TRUE(net.table.device().is_cpu());
  telemetry::synchronize(device);
  // The module's tensors were the only holders of that device memory.
  EXPECT_LE(telemetry::memory_stats(device).allocated_bytes, allocated - bytes);
  EXPECT_THROW(parking.park(net), skyreels::Error);  // one at a time

  parking.restore();
  EXPECT_FALSE(parking.parked());
  EXPECT_EQ(net.a->weight.device(), device);
  EXPECT_EQ(net.table.device(), device);
  EXPECT_TRUE(at::equal(net.a->weight.to(at::kCPU), a_weight));
  EXPECT_TRUE(at::equal(net.table.to(at::kCPU), table));
  EXPECT_TRUE(at::equal(net.b->forward(net.a->forward(x)).to(at::kCPU), before));

  // A second round trip.
  parking.park(net);
  parking.restore();
  EXPECT_TRUE(at::equal(net.a->weight.to(at::kCPU), a_weight));
  parking.restore();  // nothing parked: no-op
}

TEST(WeightParking, Float8WeightsMoveWithTheModule) {
  torch::NoGradGuard no_grad;
  const auto device = test_device();
  if (!model::fp8_unsupported_reason(device).empty()) GTEST_SKIP() << model::fp8_unsupported_reason(device);
  model::Linear linear(64, 128, true, at::TensorOptions().device(device).dtype(at::kBFloat16));
  linear->weight.copy_(at::randn_like(linear->weight));
  linear->bias.zero_();
  linear->quantize_fp8();
  const auto x = at::randn({16, 64}, at::TensorOptions().device(device).dtype(at::kBFloat16));
  const auto before = linear->forward(x).to(at::kCPU);
  model::WeightParking parking;
  parking.park(*linear);
  EXPECT_TRUE(linear->weight_fp8.device().is_cpu());
  EXPECT_TRUE(linear->weight_scale.device().is_cpu());
  parking.restore();
  EXPECT_TRUE(at::equal(linear->forward(x).to(at::kCPU), before));
}

}  // namespace
