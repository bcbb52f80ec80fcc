#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "model/sequence_parallel.h"

namespace skyreels::parallel {

// Where this process sits in a multi-process run, from the environment its starter set (issue 27):
// - our launcher (launcher.h): SKYREELS_RANK, SKYREELS_WORLD_SIZE, SKYREELS_STORE (a rendezvous file);
// - torchrun: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT;
// - SLURM (srun): SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, and the first host of SLURM_JOB_NODELIST
//   (MASTER_ADDR overrides it; MASTER_PORT, else 29500).
// torchrun and SLURM ranks meet through a c10d TCPStore served by rank 0. SKYREELS_RANK_TIMEOUT_S bounds
// every wait on another rank (joining, each collective), so no rank waits forever.
inline constexpr std::chrono::seconds kDefaultRankTimeout{1800};  // rank 0 may encode prompts on a CPU first
inline constexpr int kDefaultMasterPort = 29500;

struct ParallelEnv {
  int rank = 0;
  int size = 1;
  int local_rank = 0;       // this host's GPU for this rank
  std::string store;        // our launcher: path of the c10d FileStore
  std::string master_addr;  // torchrun / SLURM: the TCPStore's host
  int master_port = 0;
  std::string starter;      // "launcher", "torchrun", "slurm"; "" for one process
  std::chrono::seconds timeout = kDefaultRankTimeout;

  bool active() const { return size > 1; }
  // The device this rank uses for `requested`: under torchrun or SLURM a GPU without an index is this
  // host's GPU number local_rank, modulo the GPUs CUDA_VISIBLE_DEVICES shows (srun --gpus-per-task shows
  // each task its own); our launcher gives each rank one visible GPU instead.
  c10::Device device_for(c10::Device requested) const;
  // size 1 when no starter's variables are present; an Error(BadArgument) naming the variable when they
  // are inconsistent.
  static ParallelEnv from_environment();
};

// The first host of a SLURM node list: "gpu[01-04,07],cpu1" -> "gpu01", "a,b" -> "a".
std::string first_slurm_host(const std::string& nodelist);

// A c10d process group of every rank (gloo for CPU tensors, NCCL for CUDA ones), with the collectives
// the engine needs: the DiT's sequence-parallel exchange, broadcasts and a barrier.
class ProcessGroup : public model::SequenceParallel {
public:
  ~ProcessGroup() override;
  int rank() const override { return rank_; }
  int size() const override { return size_; }
  c10::Device device() const override { return device_; }

  void broadcast(at::Tensor& tensor, int root = 0) const override;
  void barrier() const;
  // "rank 1 of 2 on host gpu07" (the place in the whole run, for a subgroup too): for messages.
  std::string describe() const;
  // A group of some of this group's ranks (`members`: ascending, in this group's numbering; this rank
  // among them), e.g. the ranks of one CFG branch. Every member calls it with the same members and
  // name at the same point; the others do not.
  std::unique_ptr<ProcessGroup> subgroup(const std::vector<int>& members, const std::string& name) const;

  struct Impl;

protected:
  void all_to_all(at::Tensor& output, at::Tensor& input, std::vector<std::int64_t>& out_rows,
                  std::vector<std::int64_t>& in_rows) const override;
  at::Tensor all_gather(const at::Tensor& input) const override;

private:
  friend std::unique_ptr<ProcessGroup> connect(const ParallelEnv&, c10::Device);
  ProcessGroup(int rank, int size, c10::Device device, std::unique_ptr<Impl> impl);
  int rank_, size_;
  int world_rank_, world_size_;  // for messages
  std::string host_;
  c10::Device device_;
  std::unique_ptr<Impl> impl_;
};

// Joins the group (blocks until every rank has joined). The backend follows the device: NCCL for CUDA,
// gloo for the CPU. Throws Error(Unsupported) when this build of LibTorch lacks that backend.
std::unique_ptr<ProcessGroup> connect(const ParallelEnv& env, c10::Device device);

// Which backends this build can use, e.g. "gloo nccl", or "" for none.
std::string available_backends();

}  // namespace skyreels::parallel
