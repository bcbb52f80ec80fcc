#include "demo/adherence_eval.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include "model/wan_vae.h"
#include "pipeline/pixel_frames.h"
#include "pipeline/window_plan.h"
#include "skyreels/error.h"

namespace skyreels::demo {

namespace {

using Clock = std::chrono::steady_clock;

constexpr double kInfinity = std::numeric_limits<double>::infinity();
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One video of an evaluation.
struct Job {
  Combination combination;
  std::uint64_t seed = 0;
};

std::vector<Job> jobs_of(const EvalOptions& options) {
  const auto& combinations = options.combinations.empty() ? held_out_combinations() : options.combinations;
  if (options.seeds.empty()) throw Error(ErrorCode::BadArgument, "an adherence evaluation needs at least one seed");
  std::vector<Job> jobs;
  for (const auto seed : options.seeds)
    for (std::size_t i = 0; i < combinations.size(); ++i) jobs.push_back({combinations[i], seed + i});
  return jobs;
}

// Adds one scored video to the report and tells the caller's progress callback.
void add_result(AdherenceReport& report, PromptResult result, const EvalOptions& options, std::size_t total) {
  report.generation_seconds += result.seconds;
  report.results.push_back(std::move(result));
  if (options.on_result) options.on_result(report.results.back(), report.results.size(), total);
}

void finish(AdherenceReport& report, Clock::time_point start) {
  report.rates = rates_of(report.results);
  report.wall_seconds = std::chrono::duration<double>(Clock::now() - start).count();
}

// What an evaluation adds to the request of one video (conditioning inputs).
using Prepare = std::function<void(const Job&, pipeline::GenerationRequest&)>;

// Generates and scores every job of `options` with `settings`; `prepare` adds the kind's inputs.
AdherenceReport run(pipeline::Engine& engine, EvalKind kind, const pipeline::GenerationSettings& settings,
                    const EvalOptions& options, const Prepare& prepare) {
  const auto start = Clock::now();
  pipeline::require_valid(settings);
  const auto jobs = jobs_of(options);
  AdherenceReport report;
  report.kind = kind;
  report.settings = settings;
  for (const auto& job : jobs) {
    const auto scene = job.combination.scene();
    pipeline::GenerationRequest request;
    request.settings = settings;
    request.settings.prompt = caption(scene);
    request.settings.seed = job.seed;
    if (prepare) prepare(job, request);
    const auto generated = engine.generate(request);
    if (generated.cancelled) throw Error(ErrorCode::Cancelled, "the adherence evaluation was cancelled");

    PromptResult r;
    r.combination = job.combination;
    r.prompt = request.settings.prompt;
    r.seed = job.seed;
    r.seconds = generated.seconds;
    const auto& video = generated.video;
    auto whole = detect(video);
    // The frames of a video to extend come first and move as they should by construction: the new
    // frames alone are scored.
    const auto given = generated.plan.input_pixel_frames;
    r.track = whole.centroids;
    r.detection = given > 0 && given < video.size(0) ? detect(video.narrow(0, given, video.size(0) - given))
                                                     : std::move(whole);
    r.card = score(r.detection, scene);
    r.joins = join_jumps(r.track, join_frames(generated.plan),
                         FrameExit{job.combination.motion, video.size(1), video.size(2)});
    if (request.settings.has_start_image)
      r.first_frame_psnr_db = psnr(video[0], pipeline::pixels_to_uint8(request.start_image)[0]);
    if (options.keep_videos) r.video = video;
    add_result(report, std::move(r), options, jobs.size());
  }
  finish(report, start);
  return report;
}

// The procedural video of a job's scene at the settings' size: float [3, frames, H, W] in [-1, 1].
at::Tensor render_job(const Job& job, const pipeline::GenerationSettings& s, std::int64_t frames) {
  return render(job.combination.scene(), frames, s.height, s.width, job.seed);
}

std::string rate_text(const char* name, double rate, double target, std::size_t prompts) {
  char text[128];
  std::snprintf(text, sizeof text, "%s %.2f < %.2f (%lld of %zu)", name, rate, target,
                static_cast<long long>(std::llround(rate * static_cast<double>(prompts))), prompts);
  return text;
}

}  // namespace

double PromptResult::max_join_ratio() const {
  double worst = 0;
  for (const auto& j : joins)
    if (!j.exited) worst = std::max(worst, j.ratio.value_or(kInfinity));
  return worst;
}

AdherenceRates rates_of(const std::vector<PromptResult>& results) {
  AdherenceRates rates;
  rates.prompts = results.size();
  if (results.empty()) return rates;
  for (const auto& r : results) {
    rates.colour += r.card.colour_ok;
    rates.background += r.card.background_ok;
    rates.shape += r.card.shape_ok;
    rates.motion += r.card.motion_ok;
    rates.all += r.card.all_ok();
  }
  const auto n = static_cast<double>(results.size());
  for (auto* rate : {&rates.colour, &rates.background, &rates.shape, &rates.motion, &rates.all}) *rate /= n;
  return rates;
}

const char* to_string(EvalKind kind) {
  switch (kind) {
    case EvalKind::TextToVideo: return "text-to-video";
    case EvalKind::ImageToVideo: return "image-to-video";
    case EvalKind::Extension: return "extension";
    case EvalKind::LongVideo: return "long-video";
    case EvalKind::VaeRoundTrip: return "vae-round-trip";
  }
  return "?";
}

double AdherenceReport::min_first_frame_psnr_db() const {
  double worst = kInfinity;
  bool any = false;
  for (const auto& r : results)
    if (r.first_frame_psnr_db) worst = std::min(worst, *r.first_frame_psnr_db), any = true;
  return any ? worst : kNaN;
}

double AdherenceReport::mean_first_frame_psnr_db() const {
  double sum = 0;
  std::size_t count = 0;
  for (const auto& r : results)
    if (r.first_frame_psnr_db) sum += *r.first_frame_psnr_db, ++count;
  return count == 0 ? kNaN : sum / static_cast<double>(count);
}

double AdherenceReport::max_join_ratio() const {
  double worst = 0;
  for (const auto& r : results) worst = std::max(worst, r.max_join_ratio());
  return worst;
}

std::string missed_rate_targets(const AdherenceRates& rates) {
  std::vector<std::string> missed;
  if (rates.prompts < kTargetMinPrompts)
    missed.push_back(std::to_string(rates.prompts) + " prompts < " + std::to_string(kTargetMinPrompts));
  const struct {
    const char* name;
    double rate, target;
  } checks[] = {{"colour", rates.colour, kTargetColourRate},
                {"background", rates.background, kTargetBackgroundRate},
                {"motion", rates.motion, kTargetMotionRate},
                {"shape", rates.shape, kTargetShapeRate}};
  for (const auto& c : checks)
    if (c.rate < c.target) missed.push_back(rate_text(c.name, c.rate, c.target, rates.prompts));
  std::string text;
  for (const auto& m : missed) text += (text.empty() ? "" : "; ") + m;
  return text;
}

AdherenceReport evaluate_prompts(pipeline::Engine& engine, const pipeline::GenerationSettings& base,
                                 const EvalOptions& options) {
  auto s = base;
  s.has_start_image = s.has_end_image = s.extends_video = false;
  return run(engine, EvalKind::TextToVideo, s, options, {});
}

AdherenceReport evaluate_image_to_video(pipeline::Engine& engine, const pipeline::GenerationSettings& base,
                                        const EvalOptions& options) {
  auto s = base;
  s.has_start_image = true;
  s.has_end_image = s.extends_video = false;
  return run(engine, EvalKind::ImageToVideo, s, options, [&s](const Job& job, pipeline::GenerationRequest& request) {
    request.start_image = render_job(job, s, s.num_frames).narrow(1, 0, 1).contiguous();
  });
}

AdherenceReport evaluate_extension(pipeline::Engine& engine, const pipeline::GenerationSettings& base,
                                   std::int64_t input_frames, const EvalOptions& options) {
  auto s = base;
  s.extends_video = true;
  s.has_start_image = s.has_end_image = false;
  if (!s.overlap_history) throw Error(ErrorCode::BadArgument, "a video extension needs overlap_history");
  if (input_frames < *s.overlap_history || (input_frames - 1) % 4 != 0)
    throw Error(ErrorCode::BadArgument, "the video to extend must have 1 + 4k frames, at least overlap_history (" +
                                            std::to_string(*s.overlap_history) + "), not " +
                                            std::to_string(input_frames));
  return run(engine, EvalKind::Extension, s, options,
             [&s, input_frames](const Job& job, pipeline::GenerationRequest& request) {
               request.input_video = render_job(job, s, input_frames);
             });
}

AdherenceReport evaluate_long_video(pipeline::Engine& engine, const pipeline::GenerationSettings& base, int windows,
                                    const EvalOptions& options) {
  auto s = base;
  s.has_start_image = s.has_end_image = s.extends_video = false;
  s.num_frames = long_video_frames(s, windows);
  return run(engine, EvalKind::LongVideo, s, options, {});
}

std::vector<Combination> held_out_subset(std::size_t count) {
  const auto& all = held_out_combinations();
  count = std::min(count, all.size());
  std::vector<Combination> subset;
  std::vector<bool> taken(all.size(), false);
  std::size_t i = 0;
  for (std::size_t k = 0; k < count; ++k, i = (i + 7) % all.size()) {
    while (taken[i]) i = (i + 1) % all.size();  // only when 7 divides the list's length
    taken[i] = true;
    subset.push_back(all[i]);
  }
  return subset;
}

std::int64_t long_video_frames(const pipeline::GenerationSettings& settings, int windows) {
  if (windows < 2)
    throw Error(ErrorCode::BadArgument, "a long video has at least 2 windows, not " + std::to_string(windows));
  if (!settings.overlap_history)
    throw Error(ErrorCode::BadArgument, "a long video needs overlap_history (the frames windows share)");
  const auto base = (settings.base_num_frames - 1) / 4 + 1;
  const auto overlap = (*settings.overlap_history - 1) / 4 + 1;
  auto s = settings;
  s.extends_video = false;
  s.num_frames = 1 + 4 * (base + (windows - 1) * (base - overlap) - 1);  // every window full
  pipeline::require_valid(s);
  const auto plan = pipeline::plan_generation(s);
  if (static_cast<int>(plan.windows.size()) != windows)
    throw Error(ErrorCode::BadArgument, "base_num_frames " + std::to_string(s.base_num_frames) +
                                            " and overlap_history " + std::to_string(*s.overlap_history) + " make " +
                                            std::to_string(plan.windows.size()) + " windows of " +
                                            std::to_string(s.num_frames) + " frames, not " + std::to_string(windows));
  return s.num_frames;
}

std::vector<std::int64_t> join_frames(const pipeline::GenerationPlan& plan) {
  std::vector<std::int64_t> joins;
  auto frame = plan.input_pixel_frames;
  for (const auto& w : plan.windows) {
    if (frame > 0) joins.push_back(frame);
    frame += w.new_pixel_frames();
  }
  return joins;
}

namespace {

// Whether a track left its frame before `frame` (see join_jumps): never seen from `frame` on, and
// last seen near the border its motion points to.
bool left_before(const std::vector<std::optional<Point>>& centroids, std::int64_t frame, const FrameExit& exit) {
  for (auto i = static_cast<std::size_t>(frame); i < centroids.size(); ++i)
    if (centroids[i]) return false;
  for (auto i = static_cast<std::size_t>(frame); i-- > 0;) {
    if (!centroids[i]) continue;
    const auto& p = *centroids[i];
    const double w = static_cast<double>(exit.width), h = static_cast<double>(exit.height);
    switch (exit.motion) {
      case Motion::Left: return p.x <= kExitBand * w;
      case Motion::Right: return p.x >= (1 - kExitBand) * w;
      case Motion::Up: return p.y <= kExitBand * h;
      case Motion::Down: return p.y >= (1 - kExitBand) * h;
    }
  }
  return false;  // never seen at all: nothing left
}

}  // namespace

std::vector<JoinJump> join_jumps(const std::vector<std::optional<Point>>& centroids,
                                 const std::vector<std::int64_t>& joins, const std::optional<FrameExit>& exit) {
  const double median = std::max(median_step(centroids), kMinStepPx);
  std::vector<JoinJump> jumps;
  for (const auto frame : joins) {
    if (frame < 1 || frame >= static_cast<std::int64_t>(centroids.size()))
      throw Error(ErrorCode::BadArgument, "a window join at frame " + std::to_string(frame) + " of a track of " +
                                              std::to_string(centroids.size()) + " frames");
    JoinJump j;
    j.frame = frame;
    const auto& before = centroids[static_cast<std::size_t>(frame - 1)];
    const auto& after = centroids[static_cast<std::size_t>(frame)];
    if (before && after) j.ratio = std::hypot(after->x - before->x, after->y - before->y) / median;
    else if (!after && exit) j.exited = left_before(centroids, frame, *exit);
    jumps.push_back(j);
  }
  return jumps;
}

double psnr(const at::Tensor& a, const at::Tensor& b) {
  if (!a.defined() || !b.defined() || a.scalar_type() != at::kByte || b.scalar_type() != at::kByte)
    throw Error(ErrorCode::BadArgument, "psnr compares uint8 videos or images");
  if (a.sizes() != b.sizes())
    throw Error(ErrorCode::ShapeMismatch, "psnr compares videos of the same shape, not " +
                                              std::to_string(a.numel()) + " and " + std::to_string(b.numel()) +
                                              " values");
  if (a.numel() == 0) throw Error(ErrorCode::BadArgument, "psnr of empty videos");
  const double mse = (a.cpu().to(at::kDouble) - b.cpu().to(at::kDouble)).pow(2).mean().item<double>();
  return mse == 0 ? kInfinity : 10.0 * std::log10(255.0 * 255.0 / mse);
}

VideoComparison compare_videos(const AdherenceReport& a, const AdherenceReport& b) {
  if (a.results.size() != b.results.size())
    throw Error(ErrorCode::BadArgument, "the runs to compare have " + std::to_string(a.results.size()) + " and " +
                                            std::to_string(b.results.size()) + " videos");
  VideoComparison c;
  double sum = 0;
  c.min_psnr_db = kInfinity;
  for (std::size_t i = 0; i < a.results.size(); ++i) {
    const auto& x = a.results[i];
    const auto& y = b.results[i];
    if (x.prompt != y.prompt || x.seed != y.seed)
      throw Error(ErrorCode::BadArgument, "video " + std::to_string(i) + " of the runs to compare differs: \"" +
                                              x.prompt + "\" seed " + std::to_string(x.seed) + " and \"" + y.prompt +
                                              "\" seed " + std::to_string(y.seed));
    if (!x.video.defined() || !y.video.defined())
      throw Error(ErrorCode::BadArgument, "the runs to compare did not keep their videos (EvalOptions::keep_videos)");
    const double db = psnr(x.video, y.video);
    ++c.videos;
    c.min_psnr_db = std::min(c.min_psnr_db, db);
    if (std::isinf(db)) ++c.identical;
    else sum += db;
  }
  const auto differing = c.videos - c.identical;
  c.mean_psnr_db = differing == 0 ? kInfinity : sum / static_cast<double>(differing);
  return c;
}

AdherenceReport evaluate_vae_round_trip(model::WanVaeImpl& vae, std::int64_t frames, std::int64_t height,
                                        std::int64_t width, const EvalOptions& options) {
  c10::NoGradGuard no_grad;
  const auto start = Clock::now();
  const auto jobs = jobs_of(options);
  const auto device = vae.parameters().front().device();
  AdherenceReport report;
  report.kind = EvalKind::VaeRoundTrip;
  report.settings.num_frames = frames;
  report.settings.height = height;
  report.settings.width = width;
  for (const auto& job : jobs) {
    const auto scene = job.combination.scene();
    const auto video = render(scene, frames, height, width, job.seed);
    const auto trip_start = Clock::now();
    const auto decoded = pipeline::pixels_to_uint8(vae.decode(vae.encode(video.unsqueeze(0).to(device))));
    PromptResult r;
    r.combination = job.combination;
    r.prompt = caption(scene);
    r.seed = job.seed;
    r.seconds = std::chrono::duration<double>(Clock::now() - trip_start).count();
    r.detection = detect(decoded);
    r.track = r.detection.centroids;
    r.card = score(r.detection, scene);
    r.first_frame_psnr_db = psnr(decoded[0], pipeline::pixels_to_uint8(video.narrow(1, 0, 1))[0]);
    if (options.keep_videos) r.video = decoded;
    add_result(report, std::move(r), options, jobs.size());
  }
  finish(report, start);
  return report;
}

}  // namespace skyreels::demo
