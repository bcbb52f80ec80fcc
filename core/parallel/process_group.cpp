#include "parallel/process_group.h"

#include <algorithm>
#include <functional>
#include <cstdlib>
#include <unistd.h>

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
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
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

bool has_env(const char* name) {
  const char* text = std::getenv(name);
  return text && *text;
}

std::string env_text(const char* name) { return has_env(name) ? std::getenv(name) : ""; }

std::string this_host() {
  char name[256] = {};
  return gethostname(name, sizeof(name) - 1) == 0 ? std::string(name) : std::string("unknown host");
}

}  // namespace

c10::Device ParallelEnv::device_for(c10::Device requested) const {
  if (!requested.is_cuda() || requested.has_index() || starter == "launcher" || !active()) return requested;
  // A starter that shows each task only its own GPUs (srun --gpus-per-task, CUDA_VISIBLE_DEVICES) numbers
  // them from 0 for every task.
  int index = local_rank;
  if (const auto visible = env_text("CUDA_VISIBLE_DEVICES"); !visible.empty()) {
    const int count = 1 + static_cast<int>(std::count(visible.begin(), visible.end(), ','));
    if (index >= count) index %= count;
  }
  return c10::Device(c10::kCUDA, static_cast<c10::DeviceIndex>(index));
}

std::string first_slurm_host(const std::string& nodelist) {
  // Hosts are separated by commas outside brackets; a bracket holds ranges of numbers with their zero
  // padding ("gpu[01-04,07]"), of which the first is the first host.
  const auto comma = [&] {
    int depth = 0;
    for (std::size_t i = 0; i < nodelist.size(); ++i) {
      if (nodelist[i] == '[') ++depth;
      else if (nodelist[i] == ']') --depth;
      else if (nodelist[i] == ',' && depth == 0) return i;
    }
    return nodelist.size();
  }();
  const auto first = nodelist.substr(0, comma);
  const auto open = first.find('[');
  if (open == std::string::npos) return first;
  const auto close = first.find(']', open);
  if (close == std::string::npos) throw Error(ErrorCode::BadArgument, "SLURM_JOB_NODELIST \"" + nodelist + "\" has an unclosed bracket");
  const auto inside = first.substr(open + 1, close - open - 1);
  const auto end = inside.find_first_of("-,");
  return first.substr(0, open) + inside.substr(0, end) + first.substr(close + 1);
}

ParallelEnv ParallelEnv::from_environment() {
  ParallelEnv env;
  auto check = [&](const char* rank_name, const char* size_name) {
    if (env.size < 1 || env.rank < 0 || env.rank >= env.size)
      throw Error(ErrorCode::BadArgument, std::string(rank_name) + " " + std::to_string(env.rank) + " is not within " +
                                              size_name + " " + std::to_string(env.size));
  };
  if (has_env("SKYREELS_RANK") || has_env("SKYREELS_WORLD_SIZE")) {
    env.starter = "launcher";
    env.size = env_int("SKYREELS_WORLD_SIZE", 1);
    env.rank = env.local_rank = env_int("SKYREELS_RANK", 0);
    env.store = env_text("SKYREELS_STORE");
    check("SKYREELS_RANK", "SKYREELS_WORLD_SIZE");
    if (env.size > 1 && env.store.empty())
      throw Error(ErrorCode::BadArgument, "SKYREELS_STORE (the rendezvous file) is not set for a multi-process run");
  } else if (has_env("WORLD_SIZE")) {
    env.starter = "torchrun";
    env.size = env_int("WORLD_SIZE", 1);
    env.rank = env_int("RANK", 0);
    env.local_rank = env_int("LOCAL_RANK", env.rank);
    check("RANK", "WORLD_SIZE");
    if (env.size > 1 && !has_env("RANK")) throw Error(ErrorCode::BadArgument, "WORLD_SIZE is set but RANK is not");
    env.master_addr = env_text("MASTER_ADDR");
    if (env.size > 1 && env.master_addr.empty())
      throw Error(ErrorCode::BadArgument, "MASTER_ADDR (the host of rank 0) is not set for a multi-process run");
    env.master_port = env_int("MASTER_PORT", kDefaultMasterPort);
  } else if (has_env("SLURM_PROCID") && env_int("SLURM_NTASKS", 1) > 1) {  // srun's tasks, not an salloc shell
    env.starter = "slurm";
    env.size = env_int("SLURM_NTASKS", 1);
    env.rank = env_int("SLURM_PROCID", 0);
    env.local_rank = env_int("SLURM_LOCALID", 0);
    check("SLURM_PROCID", "SLURM_NTASKS");
    env.master_addr = has_env("MASTER_ADDR") ? env_text("MASTER_ADDR") : first_slurm_host(env_text("SLURM_JOB_NODELIST"));
    if (env.master_addr.empty())
      throw Error(ErrorCode::BadArgument, "neither MASTER_ADDR nor SLURM_JOB_NODELIST names the host of rank 0");
    env.master_port = env_int("MASTER_PORT", kDefaultMasterPort);
  }
  if (env.master_port < 0 || env.master_port > 65535)
    throw Error(ErrorCode::BadArgument, "MASTER_PORT " + std::to_string(env.master_port) + " is not a port");
  const int timeout = env_int("SKYREELS_RANK_TIMEOUT_S", static_cast<int>(kDefaultRankTimeout.count()));
  if (timeout < 1) throw Error(ErrorCode::BadArgument, "SKYREELS_RANK_TIMEOUT_S must be at least 1 second");
  env.timeout = std::chrono::seconds(timeout);
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
  // A backend of the same kind for `size` ranks meeting under `prefix` in this group's store (set by
  // connect() on the world's backend).
  std::function<std::unique_ptr<Impl>(const std::string& prefix, int rank, int size)> make_group;
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
    : rank_(rank), size_(size), world_rank_(rank), world_size_(size), host_(this_host()), device_(device),
      impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;

std::string ProcessGroup::describe() const {
  return "rank " + std::to_string(world_rank_) + " of " + std::to_string(world_size_) + " on host " + host_;
}


namespace {

// A collective that fails (a rank died, or waited past SKYREELS_RANK_TIMEOUT_S) says where it failed.
template <typename F>
void collective(const ProcessGroup& group, const char* what, F&& run) {
  try {
    run();
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string why = e.what();
    throw Error(ErrorCode::Runtime, group.describe() + ": " + what + " failed: another rank stopped, or did not " +
                                        "answer within SKYREELS_RANK_TIMEOUT_S (" + why.substr(0, why.find('\n')) + ")");
  }
}

}  // namespace

std::unique_ptr<ProcessGroup> ProcessGroup::subgroup(const std::vector<int>& members, const std::string& name) const {
  const auto me = std::find(members.begin(), members.end(), rank_);
  if (me == members.end() || !std::is_sorted(members.begin(), members.end()) || members.back() >= size_ ||
      members.front() < 0 || !impl_->make_group)
    throw Error(ErrorCode::BadArgument, describe() + " cannot join the group \"" + name + "\" of those ranks");
  const int rank = static_cast<int>(me - members.begin()), size = static_cast<int>(members.size());
  std::unique_ptr<Impl> impl;
  // Its members meet under the group's own keys in the world's store.
  collective(*this, "joining a group", [&] { impl = impl_->make_group("group/" + name + "/", rank, size); });
  std::unique_ptr<ProcessGroup> group(new ProcessGroup(rank, size, device_, std::move(impl)));
  group->world_rank_ = world_rank_;
  group->world_size_ = world_size_;
  return group;
}

void ProcessGroup::all_to_all(at::Tensor& output, at::Tensor& input, std::vector<std::int64_t>& out_rows,
                              std::vector<std::int64_t>& in_rows) const {
  auto out = as_bits(output), in = as_bits(input);
  collective(*this, "the sequence exchange", [&] { impl_->all_to_all(out, in, out_rows, in_rows); });
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
  collective(*this, "a gather", [&] { impl_->all_gather(outputs, bits); });
  return stacked;
}

void ProcessGroup::broadcast(at::Tensor& tensor, int root) const {
  auto bits = as_bits(tensor);
  collective(*this, "a broadcast", [&] { impl_->broadcast(bits, root); });
}
void ProcessGroup::barrier() const {
  collective(*this, "a barrier", [&] { impl_->barrier(); });
}

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

#if defined(SKYREELS_WITH_GLOO) || defined(SKYREELS_WITH_NCCL)
namespace {

// The backend for `device` (NCCL for CUDA, gloo for the CPU) of `size` ranks meeting in `store`, under
// `prefix` when not empty (a subgroup's own keys). Its make_group makes more of the same kind.
std::unique_ptr<ProcessGroup::Impl> make_backend(const c10::intrusive_ptr<c10d::Store>& world_store, c10::Device device,
                                                 const ParallelEnv& env, const std::string& prefix, int rank, int size) {
  const std::chrono::milliseconds timeout = env.timeout;
  c10::intrusive_ptr<c10d::Store> store = world_store;
  if (!prefix.empty()) store = c10::make_intrusive<c10d::PrefixStore>(prefix, world_store);
  std::unique_ptr<ProcessGroup::Impl> impl;
  if (device.is_cuda()) {
#if defined(SKYREELS_WITH_NCCL)
    auto options = c10d::ProcessGroupNCCL::Options::create();
    options->timeout = timeout;
    impl = std::make_unique<C10dImpl<c10d::ProcessGroupNCCL>>(
        c10::make_intrusive<c10d::ProcessGroupNCCL>(store, rank, size, options));
#else
    throw Error(ErrorCode::Unsupported, "this build has no NCCL process group (LibTorch without c10d NCCL headers)");
#endif
  } else {
#if defined(SKYREELS_WITH_GLOO)
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    // One host (our launcher, or a master on the loopback): the loopback interface; across hosts the
    // interface of this host's name (or GLOO_SOCKET_IFNAME's).
    const bool local = !env.store.empty() || env.master_addr == "127.0.0.1" || env.master_addr == "localhost";
    options->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                     : c10d::ProcessGroupGloo::createDefaultDevice());
    impl = std::make_unique<C10dImpl<c10d::ProcessGroupGloo>>(
        c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, size, options));
#else
    throw Error(ErrorCode::Unsupported, "this build has no gloo process group (LibTorch without c10d gloo headers)");
#endif
  }
  impl->make_group = [world_store, device, env](const std::string& name, int r, int n) {
    return make_backend(world_store, device, env, name, r, n);
  };
  return impl;
}

}  // namespace
#endif

std::unique_ptr<ProcessGroup> connect(const ParallelEnv& env, c10::Device device) {
  if (!env.active()) throw Error(ErrorCode::BadArgument, "connect() needs a multi-process run (SKYREELS_WORLD_SIZE > 1)");
  std::unique_ptr<ProcessGroup::Impl> impl;
  // Meeting the others: the store, then the backend's own connections, each bounded by the timeout.
  try {
#if defined(SKYREELS_WITH_GLOO) || defined(SKYREELS_WITH_NCCL)
    const std::chrono::milliseconds timeout = env.timeout;
    c10::intrusive_ptr<c10d::Store> store;
    if (!env.store.empty()) {
      store = c10::make_intrusive<c10d::FileStore>(env.store, env.size);
    } else {
      // torchrun / SLURM: rank 0 serves the store, every rank waits for all to arrive (up to the timeout).
      c10d::TCPStoreOptions options;
      options.port = static_cast<std::uint16_t>(env.master_port);
      options.isServer = env.rank == 0;
      options.numWorkers = static_cast<std::size_t>(env.size);
      options.waitWorkers = true;
      options.timeout = timeout;
      store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, options);
    }
    store->setTimeout(timeout);
    impl = make_backend(store, device, env, "", env.rank, env.size);
#else
    throw Error(ErrorCode::Unsupported, device.is_cuda()
                                            ? "this build has no NCCL process group (LibTorch without c10d NCCL headers)"
                                            : "this build has no gloo process group (LibTorch without c10d gloo headers)");
#endif
  } catch (const Error&) {
    throw;
  } catch (const std::exception& e) {
    const std::string why = e.what();
    throw Error(ErrorCode::Runtime, "rank " + std::to_string(env.rank) + " of " + std::to_string(env.size) + " on host " +
                                        this_host() + " could not meet the other ranks within " +
                                        std::to_string(env.timeout.count()) + " s (SKYREELS_RANK_TIMEOUT_S; " +
                                        (env.store.empty() ? env.master_addr + ":" + std::to_string(env.master_port)
                                                           : env.store) +
                                        ", started by " + env.starter + "): " + why.substr(0, why.find('\n')));
  }
  logger("parallel")->info("rank {}/{} joined on {} ({}, started by {}, host {})", env.rank, env.size, device.str(),
                           device.is_cuda() ? "nccl" : "gloo", env.starter, this_host());
  return std::unique_ptr<ProcessGroup>(new ProcessGroup(env.rank, env.size, device, std::move(impl)));
}

}  // namespace skyreels::parallel
