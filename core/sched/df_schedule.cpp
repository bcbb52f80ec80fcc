#include "sched/df_schedule.h"

#include <algorithm>

#include "skyreels/error.h"

namespace skyreels::sched {

std::string validate_df_schedule(const DfScheduleParams& p, int steps) {
  const int cbs = p.causal_block_size;
  if (steps < 1) return "steps must be at least 1";
  if (cbs < 1) return "causal_block_size must be at least 1, got " + std::to_string(cbs);
  if (p.num_frames < 1) return "the window needs at least one latent frame, got " + std::to_string(p.num_frames);
  if (p.ar_step < 0) return "ar_step must not be negative, got " + std::to_string(p.ar_step);
  if (p.num_pre_ready < 0) return "the prefix length must not be negative";
  if (p.num_frames % cbs != 0)
    return "latent frames (" + std::to_string(p.num_frames) + ") must be a multiple of causal_block_size (" +
           std::to_string(cbs) + ")";
  if (p.base_num_frames < 1 || p.base_num_frames % cbs != 0)
    return "base latent frames (" + std::to_string(p.base_num_frames) +
           ") must be a positive multiple of causal_block_size (" + std::to_string(cbs) + ")";
  if (p.base_num_frames > p.num_frames)
    return "base latent frames (" + std::to_string(p.base_num_frames) + ") exceed the window's latent frames (" +
           std::to_string(p.num_frames) + ")";
  if (p.num_pre_ready % cbs != 0)
    return "prefix latent frames (" + std::to_string(p.num_pre_ready) + ") must be a multiple of causal_block_size (" +
           std::to_string(cbs) + ")";
  if (p.num_pre_ready >= p.num_frames)
    return "the prefix (" + std::to_string(p.num_pre_ready) + " latent frames) leaves nothing to generate in a window of " +
           std::to_string(p.num_frames);
  const int blocks = p.num_frames / cbs;
  const int base_blocks = p.base_num_frames / cbs;
  // A window that slides over more blocks than the model sees must retire a block at least every
  // steps / base_blocks rows, or the first blocks would still be noisy when they leave the window.
  if (base_blocks < blocks && static_cast<long long>(p.ar_step) * base_blocks < steps) {
    const int minimum = (steps + base_blocks - 1) / base_blocks;
    return "ar_step must be at least " + std::to_string(minimum) + " for " + std::to_string(steps) +
           " steps and a base window of " + std::to_string(base_blocks) + " blocks, got " + std::to_string(p.ar_step);
  }
  return {};
}

DfSchedule::DfSchedule(const DfScheduleParams& params, std::vector<std::int64_t> timesteps)
    : params_(params), timesteps_(std::move(timesteps)) {
  const int steps = static_cast<int>(timesteps_.size());
  if (auto why = validate_df_schedule(params_, steps); !why.empty()) throw Error(ErrorCode::BadArgument, why);

  const int cbs = params_.causal_block_size;
  blocks_ = params_.num_frames / cbs;
  prefix_blocks_ = params_.num_pre_ready / cbs;
  block_delay_ = std::min(params_.ar_step, steps);
  rows_ = steps + block_delay_ * (blocks_ - prefix_blocks_ - 1);

  // The reference slides the model's window forward by one block whenever the block just past it
  // starts updating; replaying that over rows needs only the closed-form update test.
  const int base_blocks = params_.base_num_frames / cbs;
  int terminal = base_blocks;
  intervals_.reserve(rows_);
  for (int row = 0; row < rows_; ++row) {
    if (terminal < blocks_ && block_updates(row, terminal)) ++terminal;
    intervals_.emplace_back(std::max(terminal - base_blocks, 0) * cbs, terminal * cbs);
  }
}

int DfSchedule::block_counter(int row, int block) const {
  const int steps = this->steps();
  if (block < prefix_blocks_) return steps + 1;
  const int start_row = block_delay_ * (block - prefix_blocks_);
  return std::clamp(row + 1 - start_row, 0, steps + 1);
}

bool DfSchedule::block_updates(int row, int block) const {
  if (block < prefix_blocks_) return false;
  const int start_row = block_delay_ * (block - prefix_blocks_);
  return row >= start_row && row < start_row + steps();
}

static void check_cell(int row, int frame, int rows, int frames) {
  if (row < 0 || row >= rows || frame < 0 || frame >= frames)
    throw Error(ErrorCode::BadArgument, "schedule cell (row " + std::to_string(row) + ", frame " +
                                            std::to_string(frame) + ") is outside " + std::to_string(rows) + "x" +
                                            std::to_string(frames));
}

int DfSchedule::counter(int row, int frame) const {
  check_cell(row, frame, rows_, frames());
  return block_counter(row, frame / params_.causal_block_size);
}

std::int64_t DfSchedule::timestep(int row, int frame) const {
  const int c = counter(row, frame);
  if (c == 0) return 999;
  if (c > steps()) return 0;
  return timesteps_[c - 1];
}

bool DfSchedule::updates(int row, int frame) const {
  check_cell(row, frame, rows_, frames());
  return block_updates(row, frame / params_.causal_block_size);
}

std::pair<int, int> DfSchedule::updated_frames(int row) const {
  check_cell(row, 0, rows_, frames());
  // Blocks start in order, so the updating blocks form one run.
  int first = -1, last = -1;
  for (int block = prefix_blocks_; block < blocks_; ++block) {
    if (block_updates(row, block)) {
      if (first < 0) first = block;
      last = block + 1;
    }
  }
  if (first < 0) return {0, 0};
  return {first * params_.causal_block_size, last * params_.causal_block_size};
}

std::vector<std::vector<std::int64_t>> DfSchedule::timestep_matrix() const {
  std::vector<std::vector<std::int64_t>> out(rows_, std::vector<std::int64_t>(frames()));
  for (int r = 0; r < rows_; ++r)
    for (int f = 0; f < frames(); ++f) out[r][f] = timestep(r, f);
  return out;
}

std::vector<std::vector<int>> DfSchedule::counter_matrix() const {
  std::vector<std::vector<int>> out(rows_, std::vector<int>(frames()));
  for (int r = 0; r < rows_; ++r)
    for (int f = 0; f < frames(); ++f) out[r][f] = counter(r, f);
  return out;
}

std::vector<std::vector<bool>> DfSchedule::update_matrix() const {
  std::vector<std::vector<bool>> out(rows_, std::vector<bool>(frames()));
  for (int r = 0; r < rows_; ++r)
    for (int f = 0; f < frames(); ++f) out[r][f] = updates(r, f);
  return out;
}

}  // namespace skyreels::sched
