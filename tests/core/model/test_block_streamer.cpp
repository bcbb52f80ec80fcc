// BlockStreamer (issue 24): DiT blocks streamed from host memory through device slots give the same
// output as resident blocks, bit for bit (the same bytes reach the same kernels), on every pass, with
// one slot or two, and after a pass cut short. On a CUDA test device the copies run on a side stream.

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/block_streamer.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace model = skyreels::model;
using skyreels::test::test_device;

namespace {

constexpr int kLayers = 4;

model::WanDit tiny_dit() {
  model::WanDitConfig c;
  c.dim = 64;
  c.ffn_dim = 96;
  c.text_dim = 32;
  c.num_heads = 2;
  c.num_layers = kLayers;
  model::WanDit dit(c, at::TensorOptions().device(test_device()).dtype(at::kBFloat16));
  model::randomize_weights(*dit, 7, 0.1);
  return dit;
}

struct Inputs {
  at::Tensor x, t, context;
};

Inputs inputs(std::uint64_t seed) {
  at::manual_seed(seed);
  const auto d = test_device();
  return {at::randn({1, 16, 3, 4, 6}).to(d, at::kBFloat16), at::tensor({999, 800, 500}, at::kLong).to(d),
          at::randn({1, 5, 32}).to(d, at::kBFloat16)};
}

std::vector<torch::nn::Module*> blocks_of(model::WanDit& dit) {
  std::vector<torch::nn::Module*> out;
  for (const auto& b : *dit->blocks) out.push_back(b.get());
  return out;
}

// Streams blocks [first, kLayers) of `dit` through `slots` slots, adopting each as loading does.
std::shared_ptr<model::BlockStreamer> stream(model::WanDit& dit, std::int64_t first, int slots) {
  auto streamer = std::make_shared<model::BlockStreamer>(blocks_of(dit), first, slots, test_device());
  for (std::int64_t i = first; i < kLayers; ++i) streamer->adopt(i);
  dit->stream_blocks(streamer);
  return streamer;
}

std::int64_t block_bytes(model::WanDit& dit, std::int64_t index) {
  std::int64_t bytes = 0;
  for (const auto& t : dit->blocks[static_cast<std::size_t>(index)]->parameters()) bytes += static_cast<std::int64_t>(t.nbytes());
  return bytes;
}

}  // namespace

TEST(BlockStreamer, StreamedBlocksGiveTheResidentOutputOnEveryPass) {
  torch::NoGradGuard no_grad;
  const Inputs a = inputs(1), b = inputs(2);
  auto resident = tiny_dit();
  const auto want_a = resident->forward(a.x, a.t, a.context, 1);
  const auto want_b = resident->forward(b.x, b.t, b.context, 1);

  for (const auto& [first, slots] : std::vector<std::pair<std::int64_t, int>>{{1, 2}, {0, 1}, {2, 2}, {0, 3}}) {
    SCOPED_TRACE("first streamed " + std::to_string(first) + ", slots " + std::to_string(slots));
    auto dit = tiny_dit();
    const auto streamer = stream(dit, first, slots);
    std::int64_t bytes = 0, tensors = 0;
    for (std::int64_t i = first; i < kLayers; ++i) {
      bytes += block_bytes(resident, i);
      tensors += static_cast<std::int64_t>(resident->blocks[static_cast<std::size_t>(i)]->parameters().size());
    }
    // The weights themselves, each tensor's start aligned to 256 bytes in its block's buffer, whose
    // size is a whole number of 64 KiB pages (what registering it as pinned memory locks).
    EXPECT_GE(streamer->host_bytes(), bytes);
    EXPECT_LT(streamer->host_bytes(), bytes + 256 * tensors + (kLayers - first) * (std::int64_t{1} << 16));
    EXPECT_EQ(streamer->host_bytes() % (std::int64_t{1} << 16), 0);
    // Between passes the streamed blocks sit in host memory; the resident ones stay on the device.
    EXPECT_TRUE(dit->blocks[kLayers - 1]->parameters()[0].device().is_cpu());
    if (first > 0) EXPECT_EQ(dit->blocks[0]->parameters()[0].device(), test_device());
    // Three passes: the copies for a pass start while the one before ends, so slots are reused across them.
    EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), want_a));
    EXPECT_TRUE(at::equal(dit->forward(b.x, b.t, b.context, 1), want_b));
    EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), want_a));
    EXPECT_EQ(streamer->slot_bytes(), slots * block_bytes(resident, kLayers - 1));
  }
}

TEST(BlockStreamer, APassCutShortIsFollowedByACorrectOne) {
  torch::NoGradGuard no_grad;
  const Inputs a = inputs(1);
  auto resident = tiny_dit();
  const auto want = resident->forward(a.x, a.t, a.context, 1);
  auto dit = tiny_dit();
  const auto streamer = stream(dit, 1, 2);
  // As an exception inside block 2 would leave it: ready without done.
  streamer->ready(1);
  streamer->done(1);
  streamer->ready(2);
  EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), want));
  EXPECT_TRUE(dit->blocks[2]->parameters()[0].device().is_cpu());
  EXPECT_THROW(streamer->done(3), skyreels::Error);  // done without ready is a bug, said loudly
}

TEST(BlockStreamer, RefusesBadArguments) {
  auto dit = tiny_dit();
  EXPECT_THROW(model::BlockStreamer(blocks_of(dit), kLayers, 2, test_device()), skyreels::Error);
  EXPECT_THROW(model::BlockStreamer(blocks_of(dit), 0, 0, test_device()), skyreels::Error);
  model::BlockStreamer streamer(blocks_of(dit), 2, 2, test_device());
  EXPECT_THROW(streamer.adopt(1), skyreels::Error);  // resident
  streamer.adopt(2);
  EXPECT_THROW(streamer.adopt(2), skyreels::Error);  // twice
  EXPECT_THROW(streamer.ready(2), skyreels::Error);  // block 3 never adopted
}

TEST(BlockStreamer, LoadingStreamsTheLastBlocksAndGivesTheSameModel) {
  torch::NoGradGuard no_grad;
  skyreels::test::TempDir dir;
  auto resident = tiny_dit();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& p : resident->named_parameters(true)) tensors.emplace_back(p.key(), p.value().cpu());
  const auto file = (dir / "dit.safetensors").string();
  skyreels::io::write_safetensors(file, tensors, {});

  model::DitStreaming streaming;
  streaming.streamed_blocks = 2;
  auto dit = model::load_wan_dit(skyreels::io::open_weights(file), resident->config(), test_device(), false, streaming);
  ASSERT_NE(dit->block_streamer(), nullptr);
  EXPECT_EQ(dit->block_streamer()->streamed_blocks(), 2);
  EXPECT_EQ(dit->blocks[1]->parameters()[0].device(), test_device());
  EXPECT_TRUE(dit->blocks[2]->parameters()[0].device().is_cpu());
  const Inputs a = inputs(3);
  EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), resident->forward(a.x, a.t, a.context, 1)));

  streaming.streamed_blocks = kLayers + 1;
  EXPECT_THROW(model::load_wan_dit(skyreels::io::open_weights(file), resident->config(), test_device(), false, streaming),
               skyreels::Error);
}

TEST(BlockStreamer, HostChangesReachTheNextPassAndSlotsCanBeReleased) {
  torch::NoGradGuard no_grad;
  const Inputs a = inputs(4);
  auto resident = tiny_dit();
  auto dit = tiny_dit();
  const auto streamer = stream(dit, 2, 2);
  EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), resident->forward(a.x, a.t, a.context, 1)));
  // A change between passes, as a LoRA merge makes, goes into the host copy and the next pass brings it.
  streamer->wait_for_copies();
  for (auto* model : {&resident, &dit}) (*model)->blocks[kLayers - 1]->parameters()[0].mul_(1.5);
  const auto changed = resident->forward(a.x, a.t, a.context, 1);
  EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), changed));
  // Parking the DiT frees the slots; the next pass makes them again.
  streamer->release_slots();
  EXPECT_EQ(streamer->slot_bytes(), 0);
  EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), changed));
  EXPECT_EQ(streamer->slot_bytes(), 2 * block_bytes(resident, kLayers - 1));
  // An abandoned pass leaves every streamed block on its host copy.
  streamer->ready(0);
  streamer->done(0);
  streamer->ready(2);
  streamer->abandon();
  EXPECT_TRUE(dit->blocks[2]->parameters()[0].device().is_cpu());
  EXPECT_TRUE(at::equal(dit->forward(a.x, a.t, a.context, 1), changed));
}
