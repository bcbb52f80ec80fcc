#include "pipeline/df_pipeline.h"

#include <algorithm>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "model/block_streamer.h"
#include "model/sequence_parallel.h"
#include "pipeline/flow_sampler.h"
#include "pipeline/pixel_frames.h"
#include "pipeline/step_cache.h"
#include "sched/df_schedule.h"
#include "sched/flow_solver.h"
#include "sched/flow_timesteps.h"
#include "skyreels/error.h"
#include "skyreels/log.h"
#include "telemetry/device_memory.h"
#include "telemetry/trace_range.h"

namespace skyreels::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string shape_text(at::IntArrayRef shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// [1, Lc, D] or [Lc, D] -> [1, Lc, D] on `device`, checked against the model's text width.
at::Tensor prepare_context(const at::Tensor& context, const char* what, std::int64_t text_dim, c10::Device device) {
  if (!context.defined()) throw Error(ErrorCode::BadArgument, std::string("missing input: ") + what);
  const auto c = context.dim() == 2 ? context.unsqueeze(0) : context;
  if (c.dim() != 3 || c.size(0) != 1 || c.size(2) != text_dim || c.size(1) < 1)
    throw Error(ErrorCode::ShapeMismatch, std::string(what) + " must be [1, rows, " + std::to_string(text_dim) +
                                              "] (the text encoder's output), got " + shape_text(context.sizes()));
  return c.to(device);
}

// A start/end image [3, 1, H, W] at the generation's resolution.
void check_image(const at::Tensor& image, const char* what, const GenerationSettings& s) {
  if (!image.defined()) throw Error(ErrorCode::BadArgument, std::string("missing input: ") + what);
  if (image.dim() != 4 || image.size(0) != 3 || image.size(1) != 1 || image.size(2) != s.height ||
      image.size(3) != s.width)
    throw Error(ErrorCode::ShapeMismatch, std::string(what) + " must be [3, 1, " + std::to_string(s.height) + ", " +
                                              std::to_string(s.width) + "] in [-1, 1] (resized to the output), got " +
                                              shape_text(image.sizes()));
}

// The output video as it grows: uint8 frames on the CPU, plus the last `tail_frames` frames as floats
// on the device, which the next window re-encodes as its prefix (the reference keeps them in float).
class OutputVideo {
public:
  explicit OutputVideo(std::int64_t tail_frames) : tail_frames_(tail_frames) {}

  // pixels [3, n, H, W] float in [-1, 1]; returns the uint8 frames appended.
  at::Tensor append(const at::Tensor& pixels) {
    auto frames = pixels_to_uint8(pixels);
    chunks_.push_back(frames);
    count_ += frames.size(0);
    if (tail_frames_ > 0) {
      tail_ = tail_.defined() ? at::cat({tail_, pixels}, 1) : pixels;
      if (tail_.size(1) > tail_frames_) tail_ = tail_.narrow(1, tail_.size(1) - tail_frames_, tail_frames_).clone();
    }
    return frames;
  }
  const at::Tensor& tail() const { return tail_; }
  std::int64_t frames() const { return count_; }
  at::Tensor video(std::int64_t height, std::int64_t width) const {
    if (chunks_.empty()) return at::empty({0, height, width, 3}, at::TensorOptions().dtype(at::kByte));
    return at::cat(chunks_, 0);
  }

private:
  std::int64_t tail_frames_;
  std::vector<at::Tensor> chunks_;
  std::int64_t count_ = 0;
  at::Tensor tail_;
};

// One denoising window in progress: its latents, schedule, solver and decode state.
struct Window {
  Window(const WindowPlan& plan, at::Tensor latents, at::Tensor end_latent, sched::DfSchedule schedule,
         const GenerationSettings& settings, const sched::FlowTimesteps& levels, bool per_frame_solver,
         model::VaeDecodeSession session)
      : plan(plan), latents(std::move(latents)), end_latent(std::move(end_latent)), schedule(std::move(schedule)),
        solver(make_flow_solver(settings, levels, this->latents)), session(std::move(session)),
        t_row(static_cast<std::size_t>(plan.latent_frames + (this->end_latent.defined() ? 1 : 0))) {
    if (per_frame_solver)  // the reference path: one solver per frame
      for (std::int64_t f = 0; f < plan.latent_frames; ++f)
        frame_solvers.push_back(make_flow_solver(settings, levels, this->latents.narrow(1, f, 1)));
  }

  const WindowPlan& plan;
  at::Tensor latents;     // [16, F, h, w] bf16, updated in place by the solver
  at::Tensor end_latent;  // [16, 1, h, w] of the end image, or undefined
  sched::DfSchedule schedule;
  std::unique_ptr<sched::FlowSolver> solver;  // the settings' sampler
  std::vector<std::unique_ptr<sched::FlowSolver>> frame_solvers;
  model::VaeDecodeSession session;
  std::int64_t decoded = 0;  // latents decoded so far
  std::int64_t pixels = 0;   // pixel frames those gave (before dropping the overlap)
  std::vector<std::int64_t> t_row;  // the row's timesteps, one per input frame
};

// One call of generate(): the state shared by its windows.
class GenerationRun {
public:
  GenerationRun(model::WanDit& dit, model::WanVae& vae, model::WeightParking& parking, const PipelineOptions& options,
                const GenerationInputs& inputs, NoiseSource& noise, const EventSink& events,
                const std::atomic<bool>* cancel)
      : dit_(dit), vae_(vae), parking_(parking), options_(options), inputs_(inputs), s_(inputs.settings), noise_(noise),
        events_(events), cancel_(cancel), device_(dit->patch_embedding->weight.device()),
        output_(s_.overlap_history.value_or(0)), call_(options.dit_call) {
    cfg_parallel_ = options.cfg.available() && s_.guidance_enabled();
    call_.parallel = cfg_parallel_ ? options.cfg.branch : options.parallel;
    // Every DiT call of the run (guided, unguided, step-cached) goes through call_, so the mask reaches
    // them all, as the reference applies it in every forward.
    if (s_.causal_attention) call_.causal_block_frames = s_.causal_block_size;
    call_.quantized_attention = s_.int8_attention;
    reports_ = !options.parallel || options.parallel->rank() == 0;
  }

  GenerationResult run() {
    torch::NoGradGuard no_grad;
    result_.plan = plan_generation(s_, s_.extends_video && inputs_.input_video.defined() ? inputs_.input_video.size(1) : 0);
    // Other ranks decode only what a next window re-encodes as its prefix.
    decodes_ = reports_ || result_.plan.windows.size() > 1;
    restore_dit();  // what an earlier failed generation could not bring back
    prepare_inputs();
    start_ = Clock::now();
    emit(GenerationStarted{result_.plan});
    try {
      if (s_.extends_video) deliver(-1, inputs_.input_video.to(device_, at::kFloat));
      for (const auto& window : result_.plan.windows) {
        if (cancelled()) break;
        run_window(window);
      }
      restore_dit();
    } catch (const std::exception& e) {
      try {
        parking_.restore();
      } catch (const std::exception& again) {
        logger("pipeline")->error("the DiT is still partly in host memory ({}); the next generation retries", again.what());
      }
      emit(GenerationFailed{e.what(), output_.frames()});
      throw;
    }
    result_.video = output_.video(s_.height, s_.width);
    result_.seconds = seconds_since(start_);
    if (result_.cancelled)
      emit(GenerationCancelled{output_.frames(), result_.seconds});
    else
      emit(GenerationFinished{output_.frames(), result_.seconds, telemetry::memory_stats(device_)});
    return std::move(result_);
  }

private:
  void prepare_inputs() {
    const auto& config = dit_->config();
    if (vae_->config().z_dim != config.in_dim)
      throw Error(ErrorCode::ShapeMismatch, "the VAE has " + std::to_string(vae_->config().z_dim) +
                                                " latent channels but the DiT takes " + std::to_string(config.in_dim));
    context_ = prepare_context(inputs_.context, "prompt embedding (context)", config.text_dim, device_);
    if (s_.guidance_enabled()) {
      const auto negative =
          prepare_context(inputs_.negative_context, "negative prompt embedding (guidance_scale > 1)", config.text_dim, device_);
      // One batch-2 call needs equal row counts; the text encoder always gives text_len rows. Padding
      // here would change the result (padded rows take part in cross-attention), so fall back.
      if (options_.batched_cfg && !cfg_parallel_ && negative.size(1) == context_.size(1)) {
        cfg_context_ = at::cat({context_, negative.to(context_.scalar_type())}, 0);
      } else {
        negative_context_ = negative;
        if (options_.batched_cfg && !cfg_parallel_)
          logger("pipeline")->info("prompt and negative prompt embeddings have {} and {} rows: guidance runs as two calls",
                                   context_.size(1), negative.size(1));
      }
    }
    check_conditioning(s_, inputs_.start_image, inputs_.end_image, inputs_.input_video);
    if (s_.fp8 && !dit_->fp8()) {
      dit_->quantize_fp8();  // the fast mode: irreversible, so an exact run after it needs a reload
      telemetry::release_cached_memory(device_);
    } else if (!s_.fp8 && dit_->fp8()) {
      throw Error(ErrorCode::BadArgument, "the DiT holds float8 weights from an earlier fp8 run; load the model "
                                          "again for the exact path");
    }
    levels_ = flow_schedule(s_);
  }

  void restore_dit() {
    if (!parking_.parked()) return;
    try {
      parking_.restore();
    } catch (const c10::OutOfMemoryError&) {
      throw;  // the engine's out-of-memory handling frees the models and says what to change
    } catch (const std::exception& e) {
      throw Error(ErrorCode::Runtime, std::string("the DiT could not return to the GPU from host memory: ") + e.what());
    }
  }

  // Once the last window's latents are all final, the DiT waits in host memory while the rest is
  // decoded (the step cache's residuals go too). Best effort: if it cannot move, the decode runs
  // with it resident.
  void park_dit_if_last(const WindowPlan& w, std::int64_t decoded) {
    if (!device_.is_cuda() || !decodes_ || parking_.parked() || w.index != result_.plan.windows.back().index ||
        decoded >= w.latent_frames)
      return;
    const auto bytes = model::WeightParking::device_bytes(*dit_);
    if (bytes == 0 || bytes > options_.park_dit_up_to_bytes) return;
    step_cache_.reset();
    try {
      if (auto* streamer = dit_->block_streamer()) streamer->release_slots();
      parking_.park(*dit_);
    } catch (const std::exception& e) {
      logger("pipeline")->warn("decoding with the DiT on the GPU: moving it to host memory failed ({})", e.what());
      parking_.restore();
    }
  }

  // Every rank must stop at the same row: with several, rank 0's flag decides.
  bool cancelled() {
    const bool mine = cancel_ && cancel_->load();
    if (model::rank0_decides(options_.parallel, mine)) result_.cancelled = true;
    return result_.cancelled;
  }

  void emit(GenerationEvent event) {
    if (events_ && reports_) events_(event);
  }

  // Normalised latents of pixels [3, n, H, W]: [16, n', h, w] bf16.
  at::Tensor encode(const at::Tensor& pixels) {
    return vae_->encode(pixels.unsqueeze(0).to(device_, at::kFloat)).squeeze(0).to(at::kBFloat16);
  }

  // One DiT call on the row's time embedding; `kind` names its stream for the step cache (0 cond,
  // 1 uncond, 2 both batched).
  at::Tensor run_dit(const at::Tensor& input, const model::TimeEmbedding& time, const at::Tensor& context, int kind) {
    result_.model_calls_run += static_cast<int>(context.size(0));
    if (!step_cache_) return dit_->forward_embedded(input, time, context, call_).v;
    const auto out = dit_->forward_embedded(input, time, context, call_, step_cache_->reuse_for(kind));
    step_cache_->record(kind, out);
    row_cached_ = row_cached_ && out.reused;
    return out.v;
  }

  // Flow prediction for the window input x [16, F, h, w] at the row's time embedding: guided, or the
  // conditional prediction alone on rows the fast mode cfg_skip_last_steps skips.
  at::Tensor predict(const at::Tensor& x, const model::TimeEmbedding& time, bool guided) {
    const auto input = x.unsqueeze(0);
    if (!guided) {
      auto v = run_dit(input, time, context_, 0)[0];
      // CFG-parallel: both halves make the conditional call, but the unconditional half's step cache
      // holds no conditional residual and may run blocks the other reuses; branch 0's prediction is
      // every rank's, so the halves step the same latents.
      if (cfg_parallel_) {
        v = v.contiguous();
        options_.cfg.pair->broadcast(v, 0);
      }
      return v;
    }
    at::Tensor cond, uncond;
    if (cfg_parallel_) {
      // This rank's branch, then both branches' predictions on every rank: [cond, uncond].
      const bool unconditional = options_.cfg.branch_index == 1;
      const auto mine = run_dit(input, time, unconditional ? negative_context_ : context_, unconditional ? 1 : 0)[0];
      const auto both = options_.cfg.pair->gather_ranks(mine.contiguous());
      result_.model_calls_run += 1;  // the other branch's
      cond = both[0];
      uncond = both[1];
    } else if (cfg_context_.defined()) {
      const auto both = run_dit(input, time, cfg_context_, 2);
      cond = both[0];
      uncond = both[1];
    } else {
      cond = run_dit(input, time, context_, 0)[0];
      uncond = run_dit(input, time, negative_context_, 1)[0];
    }
    // In float32, in the reference's order: uncond + g * (cond - uncond).
    return uncond + (cond - uncond) * s_.guidance_scale;
  }

  // Appends decoded pixels [3, n, H, W] of `window` (-1: the video being extended) to the output.
  void deliver(int window, const at::Tensor& pixels, double decode_seconds = 0) {
    const auto first = output_.frames();
    auto frames = output_.append(pixels);
    emit(BlockDecoded{window, first, frames_from_tensor(frames), decode_seconds});
  }

  // Decodes latents [from, upto) of the window and delivers the frames past the dropped overlap.
  void decode_range(Window& win, std::int64_t from, std::int64_t upto) {
    const auto limit = options_.streaming_decode ? options_.decode_latents_per_call : 0;
    for (; limit > 0 && upto - from > limit; from += limit) decode_block(win, from, from + limit);
    decode_block(win, from, upto);
    win.decoded = std::max(win.decoded, upto);
  }

  // One VAE call for latents [from, upto), delivered as one block.
  void decode_block(Window& win, std::int64_t from, std::int64_t upto) {
    if (upto <= from || !decodes_) return;
    const telemetry::TraceRange trace("vae decode");
    const auto start = Clock::now();
    auto pixels = win.session.decode(win.latents.narrow(1, from, upto - from).unsqueeze(0)).squeeze(0);  // [3, f, H, W]
    const auto first = win.pixels;
    win.pixels += pixels.size(1);
    const auto skip = std::max<std::int64_t>(0, win.plan.pixel_frames_dropped - first);
    if (skip >= pixels.size(1)) return;
    pixels = pixels.narrow(1, skip, pixels.size(1) - skip);
    telemetry::synchronize(device_);
    deliver(win.plan.index, pixels, seconds_since(start));
  }

  // --- one window: the algorithm, step by step ---

  void run_window(const WindowPlan& plan) {
    const auto window_start = Clock::now();
    const telemetry::TraceRange trace("window");
    Window win = start_window(plan);
    if (options_.streaming_decode) decode_range(win, 0, plan.prefix_latents);  // a clean prefix is final at once
    for (int row = 0; row < win.schedule.rows(); ++row) {
      const auto [first, last] = win.schedule.updated_frames(row);
      if (first == last) continue;  // nothing would change: the reference runs such rows, we don't
      denoise_row(win, row, first, last);
      // Blocks whose latents just became final are decoded now, not at the end of the window.
      if (options_.streaming_decode) {
        const auto upto = final_frames(win, row);
        if (upto == plan.latent_frames) park_dit_if_last(plan, win.decoded);  // the window's last row
        decode_range(win, win.decoded, upto);
      }
      if (cancelled()) return;  // frames decoded so far are final and stay in the output
    }
    park_dit_if_last(plan, win.decoded);
    decode_range(win, win.decoded, plan.latent_frames);
    result_.window_latents.push_back(win.latents.unsqueeze(0).cpu());
    emit(WindowDone{plan.index, seconds_since(window_start), output_.frames()});
  }

  // Noise with the clean prefix (start image or the previous window's overlap) written in, the end
  // image's latent, the schedule and the solver.
  Window start_window(const WindowPlan& w) {
    const auto F = w.latent_frames, p = w.prefix_latents;
    // A copy the solver owns: the noise source may hand out its own tensor (recorded draws).
    auto latents = noise_.window_noise(w.index, {dit_->config().in_dim, F, s_.height / 8, s_.width / 8}, device_)
                       .to(at::kBFloat16)
                       .clone(at::MemoryFormat::Contiguous);
    if (w.prefix == PrefixSource::StartImage) {
      latents.narrow(1, 0, p).copy_(encode(inputs_.start_image).narrow(1, 0, p));
    } else if (w.prefix == PrefixSource::Overlap) {
      const auto prefix = encode(output_.tail());
      if (prefix.size(1) < p)
        throw Error(ErrorCode::Runtime, "the overlap encoded to " + std::to_string(prefix.size(1)) +
                                            " latent frames, the window needs " + std::to_string(p));
      latents.narrow(1, 0, p).copy_(prefix.narrow(1, 0, p));
    }
    sched::DfScheduleParams params;
    params.num_frames = static_cast<int>(F);
    params.base_num_frames = static_cast<int>(F);
    params.ar_step = s_.ar_step;
    params.num_pre_ready = static_cast<int>(p);
    params.causal_block_size = s_.causal_block_size;
    step_cache_.reset();
    if (s_.step_cache_threshold > 0) step_cache_ = std::make_unique<StepCache>(s_.step_cache_threshold);
    return Window(w, latents, w.end_image ? encode(inputs_.end_image) : at::Tensor(), sched::DfSchedule(params, levels_.timesteps),
                  s_, levels_, options_.per_frame_solver, model::VaeDecodeSession(vae_, options_.vae_tiling));
  }

  // One row of the schedule: the model's prediction for the updated frames, then a solver step.
  void denoise_row(Window& win, int row, int first, int last) {
    const auto row_start = Clock::now();
    const telemetry::TraceRange row_trace("row");
    const auto [x, t] = row_input(win, row);
    const auto hw = (s_.height / 8 / dit_->config().patch_h) * (s_.width / 8 / dit_->config().patch_w);
    const auto time = dit_->time_embedding_for(t, x.size(1), hw, s_.fps_index(), call_);  // once for the row's calls

    const auto [first_step, last_step] = step_range(win, row, first, last);
    const int N = s_.steps;
    // Fast modes: a row whose updated frames are all in their last steps skips the unconditional
    // call; the step cache runs the blocks when the time embedding moved, and at every frame's first
    // and last step (with several ranks rank 0 decides: their collectives must line up).
    const bool skip_uncond =
        s_.guidance_enabled() && s_.cfg_skip_last_steps > 0 && first_step > N - s_.cfg_skip_last_steps;
    if (skip_uncond) ++result_.cfg_skipped_rows;
    const auto rows_per_frame = time.e0.size(0) == x.size(1) ? 1 : hw;
    row_cached_ = step_cache_ && step_cache_->decide(row, time.e0, first * rows_per_frame, (last - first) * rows_per_frame,
                                                     first_step == 1 || last_step == N, options_.parallel);

    const auto model_start = Clock::now();
    at::Tensor v;
    {
      const telemetry::TraceRange trace("model call");
      v = predict(x, time, s_.guidance_enabled() && !skip_uncond);
      telemetry::synchronize(device_);
    }
    const double model_seconds = seconds_since(model_start);
    solver_step(win, v, first, last);
    ++result_.rows_run;
    report_row(win, row, skip_uncond, seconds_since(row_start), model_seconds);
  }

  // The model input of a row: the latents (with the end image's latent after them), and the per-frame
  // timesteps; addnoise_condition puts a little fresh noise on the clean prefix, in the input only.
  std::pair<at::Tensor, at::Tensor> row_input(Window& win, int row) {
    const auto F = win.plan.latent_frames, p = win.plan.prefix_latents;
    auto& t_row = win.t_row;
    for (std::int64_t f = 0; f < F; ++f) t_row[static_cast<std::size_t>(f)] = win.schedule.timestep(row, static_cast<int>(f));
    if (win.end_latent.defined()) t_row.back() = 0;  // the end image is always clean
    auto x = win.end_latent.defined() ? at::cat({win.latents, win.end_latent}, 1) : win.latents;
    const double a = s_.addnoise_condition;
    if (a > 0 && p > 0) {
      x = x.clone();
      auto prefix = x.narrow(1, 0, p);
      const auto draw = noise_.condition_noise(condition_draws_++, prefix);
      prefix.copy_(prefix * (1.0 - 0.001 * a) + draw * (0.001 * a));
      for (std::int64_t f = 0; f < p; ++f) t_row[static_cast<std::size_t>(f)] = s_.addnoise_condition;
    }
    return {x, at::tensor(t_row, at::TensorOptions().dtype(at::kLong)).to(device_)};
  }

  // The lowest and highest step counter (1..steps) among the updated frames [first, last).
  std::pair<int, int> step_range(const Window& win, int row, int first, int last) const {
    int first_step = s_.steps, last_step = 0;
    for (int f = first; f < last; ++f) {
      first_step = std::min(first_step, win.schedule.counter(row, f));
      last_step = std::max(last_step, win.schedule.counter(row, f));
    }
    return {first_step, last_step};
  }

  void solver_step(Window& win, const at::Tensor& v, int first, int last) {
    const telemetry::TraceRange trace("solver");
    if (!options_.per_frame_solver) {
      win.solver->step(v.narrow(1, first, last - first), win.latents, first, last);
      return;
    }
    for (int f = first; f < last; ++f) {
      auto frame = win.latents.narrow(1, f, 1);
      win.frame_solvers[static_cast<std::size_t>(f)]->step(v.narrow(1, f, 1), frame, 0, 1);
      telemetry::synchronize(device_);  // the reference's blocking host<->device copies per frame
    }
  }

  void report_row(const Window& win, int row, bool unguided, double row_seconds, double model_seconds) {
    telemetry::synchronize(device_);
    RowDone done;
    done.window = win.plan.index;
    done.row = row;
    done.rows = win.schedule.rows();
    done.rows_done = result_.rows_run;
    done.rows_total = result_.plan.total_rows;
    done.elapsed_seconds = seconds_since(start_);
    done.row_seconds = row_seconds;
    done.model_seconds = model_seconds;
    done.unguided = unguided;
    done.cached = row_cached_;  // every call of the row skipped the blocks
    result_.cached_rows += row_cached_;
    done.memory = telemetry::memory_stats(device_);
    done.latents = latent_view(win.latents);
    emit(done);
  }

  // Leading frames whose latents are final after `row`.
  std::int64_t final_frames(const Window& win, int row) const {
    const auto F = win.plan.latent_frames, p = win.plan.prefix_latents;
    std::int64_t n = 0;
    while (n < F && (n < p || win.schedule.counter(row, static_cast<int>(n)) >= s_.steps)) ++n;
    return n;
  }

  model::WanDit& dit_;
  model::WanVae& vae_;
  model::WeightParking& parking_;
  const PipelineOptions& options_;
  const GenerationInputs& inputs_;
  const GenerationSettings& s_;
  NoiseSource& noise_;
  const EventSink& events_;
  const std::atomic<bool>* cancel_;
  c10::Device device_;

  GenerationResult result_;
  OutputVideo output_;
  at::Tensor context_, negative_context_, cfg_context_;
  std::unique_ptr<StepCache> step_cache_;  // the window's, when the fast mode is on
  bool row_cached_ = false;                // this row's calls reused the step cache so far
  model::WanDitCall call_;
  bool cfg_parallel_ = false;  // this job's guided calls split by branch (PipelineOptions::cfg)
  bool reports_ = true;  // events go out (rank 0 of a parallel run)
  bool decodes_ = true;
  sched::FlowTimesteps levels_;  // the sampler's noise levels and the timesteps the model is fed
  std::int64_t condition_draws_ = 0;
  Clock::time_point start_;
};

}  // namespace

void check_conditioning(const GenerationSettings& s, const at::Tensor& start_image, const at::Tensor& end_image,
                        const at::Tensor& input_video) {
  if (s.has_start_image) check_image(start_image, "start image", s);
  if (s.has_end_image) check_image(end_image, "end image", s);
  if (s.extends_video) {
    const auto& v = input_video;
    if (!v.defined()) throw Error(ErrorCode::BadArgument, "missing input: the video to extend");
    if (v.dim() != 4 || v.size(0) != 3 || v.size(2) != s.height || v.size(3) != s.width)
      throw Error(ErrorCode::ShapeMismatch, "the video to extend must be [3, T, " + std::to_string(s.height) + ", " +
                                                std::to_string(s.width) + "] in [-1, 1], got " + shape_text(v.sizes()));
  }
}

PipelineOptions PipelineOptions::reference_path() {
  PipelineOptions options;
  options.batched_cfg = false;
  options.streaming_decode = false;
  options.per_frame_solver = true;
  options.park_dit_up_to_bytes = 0;
  options.dit_call.per_token_modulation = true;
  options.dit_call.chunk_tokens = 0;  // whole-sequence temporaries, as the reference
  return options;
}

DfPipeline::DfPipeline(model::WanDit dit, model::WanVae vae, PipelineOptions options)
    : dit_(std::move(dit)), vae_(std::move(vae)), options_(std::move(options)) {}

c10::Device DfPipeline::device() const { return dit_->patch_embedding->weight.device(); }

GenerationResult DfPipeline::generate(const GenerationInputs& inputs, NoiseSource& noise, const EventSink& events,
                                      const std::atomic<bool>* cancel) {
  require_valid(inputs.settings);
  return generate_validated(inputs, noise, events, cancel);
}

GenerationResult DfPipeline::generate_validated(const GenerationInputs& inputs, NoiseSource& noise,
                                                const EventSink& events, const std::atomic<bool>* cancel) {
  return GenerationRun(dit_, vae_, parking_, options_, inputs, noise, events, cancel).run();
}

}  // namespace skyreels::pipeline
