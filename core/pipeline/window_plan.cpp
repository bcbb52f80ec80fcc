#include "pipeline/window_plan.h"

#include "sched/df_schedule.h"
#include "sched/flow_timesteps.h"
#include "skyreels/error.h"

namespace skyreels::pipeline {

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  const auto q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

namespace {

int schedule_rows(const GenerationSettings& s, const WindowPlan& w) {
  sched::DfScheduleParams params;
  params.num_frames = static_cast<int>(w.latent_frames);
  params.base_num_frames = params.num_frames;  // every reference call has base == frames
  params.ar_step = s.ar_step;
  params.num_pre_ready = static_cast<int>(w.prefix_latents);
  params.causal_block_size = s.causal_block_size;
  const auto why = sched::validate_df_schedule(params, s.steps);
  if (!why.empty()) throw Error(ErrorCode::BadArgument, "window " + std::to_string(w.index) + ": " + why);
  // Timesteps do not change the row count; a placeholder list of the right length will do.
  return sched::DfSchedule(params, std::vector<std::int64_t>(static_cast<std::size_t>(s.steps), 0)).rows();
}

}  // namespace

GenerationPlan plan_generation(const GenerationSettings& s, std::int64_t input_video_frames) {
  GenerationPlan plan;
  const auto latents = s.latent_frames();
  if (s.extends_video) {
    if (input_video_frames < *s.overlap_history)
      throw Error(ErrorCode::BadArgument, "the video to extend has " + std::to_string(input_video_frames) +
                                              " frames, fewer than overlap_history (" +
                                              std::to_string(*s.overlap_history) + ")");
    plan.input_pixel_frames = input_video_frames;
  }

  if (!s.long_mode()) {
    WindowPlan w;
    w.latent_frames = latents;
    w.prefix_latents = s.has_start_image ? 1 : 0;
    w.prefix = s.has_start_image ? PrefixSource::StartImage : PrefixSource::None;
    w.end_image = s.has_end_image;
    plan.windows.push_back(w);
  } else {
    const auto base = (s.base_num_frames - 1) / 4 + 1;
    const auto overlap = (*s.overlap_history - 1) / 4 + 1;
    const auto count = 1 + floor_div(latents - base - 1, base - overlap) + 1;
    for (std::int64_t i = 0; i < count; ++i) {
      WindowPlan w;
      w.index = static_cast<int>(i);
      if (i == 0 && !s.extends_video) {
        w.latent_frames = base;
        w.prefix_latents = s.has_start_image ? 1 : 0;
        w.prefix = s.has_start_image ? PrefixSource::StartImage : PrefixSource::None;
      } else {
        const auto finished = i * (base - overlap) + overlap;
        w.latent_frames = std::min(latents - finished + overlap, base);
        w.prefix_latents = overlap;
        w.prefix = PrefixSource::Overlap;
        w.pixel_frames_dropped = *s.overlap_history;
      }
      // The end image conditions the last window only (the reference keeps appending it and forgets to
      // drop it in long mode, spec §5.3; here it is dropped before decoding, as in short mode).
      w.end_image = s.has_end_image && i == count - 1;
      if (w.latent_frames <= w.prefix_latents)
        throw Error(ErrorCode::BadArgument, "window " + std::to_string(i) + " would have nothing to denoise (" +
                                                std::to_string(w.latent_frames) + " latent frames, " +
                                                std::to_string(w.prefix_latents) + " of them prefix)");
      plan.windows.push_back(w);
    }
  }

  plan.output_pixel_frames = plan.input_pixel_frames;
  for (auto& w : plan.windows) {
    w.rows = schedule_rows(s, w);
    plan.total_rows += w.rows;
    plan.output_pixel_frames += w.new_pixel_frames();
  }
  plan.model_calls = plan.total_rows * (s.guidance_enabled() ? 2 : 1);
  return plan;
}

}  // namespace skyreels::pipeline
