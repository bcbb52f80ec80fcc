#pragma once

#include <memory>
#include <string>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "model/sequence_parallel.h"

namespace skyreels::parallel {

// Where this process sits in a multi-process run, as the launcher (launcher.h) tells it through the
// environment: SKYREELS_RANK, SKYREELS_WORLD_SIZE and SKYREELS_STORE (a rendezvous file all ranks share).
struct ParallelEnv {
  int rank = 0;
  int size = 1;
  std::string store;  // path of the c10d FileStore

  bool active() const { return size > 1; }
  // size 1 when the variables are absent; an Error(BadArgument) when they are inconsistent.
  static ParallelEnv from_environment();
};

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

  struct Impl;

protected:
  void all_to_all(at::Tensor& output, at::Tensor& input, std::vector<std::int64_t>& out_rows,
                  std::vector<std::int64_t>& in_rows) const override;
  at::Tensor all_gather(const at::Tensor& input) const override;

private:
  friend std::unique_ptr<ProcessGroup> connect(const ParallelEnv&, c10::Device);
  ProcessGroup(int rank, int size, c10::Device device, std::unique_ptr<Impl> impl);
  int rank_, size_;
  c10::Device device_;
  std::unique_ptr<Impl> impl_;
};

// Joins the group (blocks until every rank has joined). The backend follows the device: NCCL for CUDA,
// gloo for the CPU. Throws Error(Unsupported) when this build of LibTorch lacks that backend.
std::unique_ptr<ProcessGroup> connect(const ParallelEnv& env, c10::Device device);

// Which backends this build can use, e.g. "gloo nccl", or "" for none.
std::string available_backends();

}  // namespace skyreels::parallel
