#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace skyreels::sched {

// Settings of one diffusion-forcing window, in latent frames.
struct DfScheduleParams {
  int num_frames = 0;         // latent frames in the window
  int base_num_frames = 0;    // frames the model sees at once (== num_frames in every pipeline call)
  int ar_step = 0;            // 0: synchronous; > 0: each block starts ar_step rows after the previous one
  int num_pre_ready = 0;      // clean prefix frames (image / overlap latents), never updated
  int causal_block_size = 1;  // frames that share one timestep
};

// The diffusion-forcing timestep schedule (generate_timestep_matrix of the reference), in closed form.
//
// Each block b of causal_block_size frames has a counter per row r:
//   c(b, r) = N + 1                                   for prefix blocks (b < p),
//   c(b, r) = clamp(r + 1 - min(ar_step, N) * (b - p), 0, N + 1)   otherwise,
// where N = steps and p = num_pre_ready / causal_block_size. Counter 0 means "not started" (fed at
// t = 999), 1..N "denoised this row at timesteps[c - 1]", N + 1 "finished" (fed at t = 0). Rows run
// until every block has c >= N, so rows = N + min(ar_step, N) * (blocks - p - 1), and every block is
// updated exactly N times. (The min() is what the reference's row loop does when ar_step > N.)
class DfSchedule {
public:
  // Validates before any work; throws skyreels::Error(BadArgument) for settings the reference would
  // silently mangle: frames or prefix not a multiple of causal_block_size, base window larger than
  // the window, ar_step below the minimum for a sliding window, or nothing left to denoise.
  DfSchedule(const DfScheduleParams& params, std::vector<std::int64_t> timesteps);

  int rows() const noexcept { return rows_; }
  int frames() const noexcept { return params_.num_frames; }
  int steps() const noexcept { return static_cast<int>(timesteps_.size()); }
  const DfScheduleParams& params() const noexcept { return params_; }

  // Counter of a latent frame at a row (see above): the reference's step_index.
  int counter(int row, int frame) const;
  // Timestep the model is fed for a frame at a row: 999, timesteps[c - 1], or 0.
  std::int64_t timestep(int row, int frame) const;
  // Whether the frame is advanced by the solver at this row.
  bool updates(int row, int frame) const;
  // Frames [first, last) that take part in the row's model call.
  std::pair<int, int> valid_interval(int row) const { return intervals_.at(row); }
  // The frames updated at a row: a contiguous range [first, last), empty when first == last.
  std::pair<int, int> updated_frames(int row) const;

  // The whole schedule as the reference's matrices, row-major [rows][frames] (for fixtures and UIs).
  std::vector<std::vector<std::int64_t>> timestep_matrix() const;
  std::vector<std::vector<int>> counter_matrix() const;
  std::vector<std::vector<bool>> update_matrix() const;

private:
  int block_counter(int row, int block) const;
  bool block_updates(int row, int block) const;

  DfScheduleParams params_;
  std::vector<std::int64_t> timesteps_;
  int blocks_ = 0;
  int prefix_blocks_ = 0;
  int block_delay_ = 0;  // rows between the starts of consecutive blocks
  int rows_ = 0;
  std::vector<std::pair<int, int>> intervals_;
};

// Why `params` is invalid, or an empty string. DfSchedule's constructor throws with this text.
std::string validate_df_schedule(const DfScheduleParams& params, int steps);

}  // namespace skyreels::sched
