#include "parallel/process_group.h"

#include <cstdlib>

#include <ATen/ATen.h>

#include "skyreels/error.h"
#include "skyreels/log.h"

// The c10d headers declare each backend only under its USE_C10D_* macro (LibTorch's CMake config may or
// may not pass them).
#if defined(SKYREELS_WITH_GLOO) && !defined(USE_C10D_GLOO)
#define USE_C10D_GLOO
#endif
#if defined(SKYREELS_WITH_NCCL) && !defined(USE_C10D_NCCL)
#define USE_C10D_NCCL
#endif
#if defined(SKYREELS_WITH_GLOO) || defined(SKYREELS_WITH_NCCL)
#include <torch/csrc/distributed/c10d/FileStore.hpp>
#endif
#if defined(SKYREELS_WITH_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#if defined(SKYREELS_WITH_NCCL)
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

namespace skyreels::parallel {
namespace {

int env_int(const char* name, int fallback) {
  const char* text = std::getenv(name);
  if (!text || !*text) return fallback;
  char* end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (*end != '\0') throw Error(ErrorCode::BadArgument, std::string(name) + " must be a number, got \"" + text + "\"");
  return static_cast<int>(value);
}

}  // namespace

ParallelEnv ParallelEnv::from_environment() {
  ParallelEnv env;
  env.size = env_int("SKYREELS_WORLD_SIZE", 1);
  env.rank = env_int("SKYREELS_RANK", 0);
  if (const char* store = std::getenv("SKYREELS_STORE")) env.store = store;
  if (env.size < 1 || env.rank < 0 || env.rank >= env.size)
    throw Error(ErrorCode::BadArgument, "SKYREELS_RANK " + std::to_string(env.rank) + " is not within SKYREELS_WORLD_SIZE " +
                                            std::to_string(env.size));
  if (env.size > 1 && env.store.empty())
    throw Error(ErrorCode::BadArgument, "SKYREELS_STORE (the rendezvous file) is not set for a multi-process run");
  return env;
}

// The collectives of one c10d backend class (ProcessGroupGloo or ProcessGroupNCCL: same method names in
// LibTorch 1.13 and 2.x, where they moved from ProcessGroup to Backend).
struct ProcessGroup::Impl {
  virtual ~Impl() = default;
  virtual void all_to_all(at::Tensor& out, at::Tensor& in, std::vector<std::int64_t>& out_rows,
                          std::vector<std::int64_t>& in_rows) = 0;
  virtual void all_gather(std::vector<at::Tensor>& outputs, at::Tensor& input) = 0;
  virtual void broadcast(at::Tensor& tensor, int root) = 0;
  virtual void barrier() = 0;
};

#if defined(SKYREELS_WITH_GLOO) || defined(SKYREELS_WITH_NCCL)
namespace {

template <typename Backend>
struct C10dImpl : ProcessGroup::Impl {
  explicit C10dImpl(c10::intrusive_ptr<Backend> backend) : pg(std::move(backend)) {}
  void all_to_all(at::Tensor& out, at::Tensor& in, std::vector<std::int64_t>& out_rows,
                  std::vector<std::int64_t>& in_rows) override {
    pg->alltoall_base(out, in, out_rows, in_rows)->wait();
  }
  void all_gather(std::vector<at::Tensor>& outputs, at::Tensor& input) override {
    std::vector<std::vector<at::Tensor>> out{outputs};
    std::vector<at::Tensor> in{input};
    pg->allgather(out, in)->wait();
  }
  void broadcast(at::Tensor& tensor, int root) override {
    std::vector<at::Tensor> tensors{tensor};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    pg->broadcast(tensors, options)->wait();
  }
  void barrier() override { pg->barrier()->wait(); }
  c10::intrusive_ptr<Backend> pg;
};

}  // namespace
#endif

namespace {

// Collectives here only move data, so 16-bit floats travel as their bytes (the last dimension doubles,
// rows stay rows): exact, and gloo in LibTorch 1.13 knows neither bfloat16 nor int16.
at::Tensor as_bits(const at::Tensor& t) {
  const auto type = t.scalar_type();
  return type == at::kBFloat16 || type == at::kHalf ? t.view(at::kByte) : t;
}

}  // namespace

ProcessGroup::ProcessGroup(int rank, int size, c10::Device device, std::unique_ptr<Impl> impl)
    : rank_(rank), size_(size), device_(device), impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;

void ProcessGroup::all_to_all(at::Tensor& output, at::Tensor& input, std::vector<std::int64_t>& out_rows,
                              std::vector<std::int64_t>& in_rows) const {
  auto out = as_bits(output), in = as_bits(input);
  impl_->all_to_all(out, in, out_rows, in_rows);
}

at::Tensor ProcessGroup::all_gather(const at::Tensor& input) const {
  auto in = input.contiguous();
  auto stacked = at::empty([&] {
    auto shape = in.sizes().vec();
    shape.insert(shape.begin(), size_);
    return shape;
  }(), in.options());
  std::vector<at::Tensor> outputs;
  for (int r = 0; r < size_; ++r) outputs.push_back(as_bits(stacked[r]));
  auto bits = as_bits(in);
  impl_->all_gather(outputs, bits);
  return stacked;
}

void ProcessGroup::broadcast(at::Tensor& tensor, int root) const {
  auto bits = as_bits(tensor);
  impl_->broadcast(bits, root);
}
void ProcessGroup::barrier() const { impl_->barrier(); }

std::string available_backends() {
  std::string names;
#if defined(SKYREELS_WITH_GLOO)
  names += "gloo";
#endif
#if defined(SKYREELS_WITH_NCCL)
  names += names.empty() ? "nccl" : " nccl";
#endif
  return names;
}

std::unique_ptr<ProcessGroup> connect(const ParallelEnv& env, c10::Device device) {
  if (!env.active()) throw Error(ErrorCode::BadArgument, "connect() needs a multi-process run (SKYREELS_WORLD_SIZE > 1)");
#if defined(SKYREELS_WITH_GLOO) || defined(SKYREELS_WITH_NCCL)
  auto store = c10::make_intrusive<c10d::FileStore>(env.store, env.size);
#endif
  std::unique_ptr<ProcessGroup::Impl> impl;
  if (device.is_cuda()) {
#if defined(SKYREELS_WITH_NCCL)
    auto options = c10d::ProcessGroupNCCL::Options::create();
    impl = std::make_unique<C10dImpl<c10d::ProcessGroupNCCL>>(
        c10::make_intrusive<c10d::ProcessGroupNCCL>(store, env.rank, env.size, options));
#else
    throw Error(ErrorCode::Unsupported, "this build has no NCCL process group (LibTorch without c10d NCCL headers)");
#endif
  } else {
#if defined(SKYREELS_WITH_GLOO)
    auto options = c10d::ProcessGroupGloo::Options::create();
    options->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    impl = std::make_unique<C10dImpl<c10d::ProcessGroupGloo>>(
        c10::make_intrusive<c10d::ProcessGroupGloo>(store, env.rank, env.size, options));
#else
    throw Error(ErrorCode::Unsupported, "this build has no gloo process group (LibTorch without c10d gloo headers)");
#endif
  }
  logger("parallel")->info("rank {}/{} joined on {} ({})", env.rank, env.size, device.str(),
                           device.is_cuda() ? "nccl" : "gloo");
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(env.rank, env.size, device, std::move(impl)));
}

}  // namespace skyreels::parallel
