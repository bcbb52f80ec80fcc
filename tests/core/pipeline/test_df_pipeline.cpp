// The diffusion-forcing pipeline on the reference fixtures' tiny models: fixtures, events, streaming
// decode, cancel, validation and the conditioning paths.

#include <atomic>
#include <functional>
#include <variant>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "pipeline/df_pipeline.h"
#include "pipeline/pixel_frames.h"
#include "pipeline/window_plan.h"
#include "sched/df_schedule.h"
#include "sched/flow_timesteps.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace conf = skyreels::conformance;
namespace pipeline = skyreels::pipeline;
namespace sched = skyreels::sched;
using skyreels::Error;
using skyreels::ErrorCode;
using skyreels::test::fixture_case;
using skyreels::test::test_device;

namespace {

struct Fixture {
  explicit Fixture(const std::string& name)
      : fixture(fixture_case(name)),
        pipeline(conf::load_fixture_pipeline(fixture, test_device())),
        inputs(conf::fixture_generation_inputs(fixture)) {}
  conf::FixtureCase fixture;
  pipeline::DfPipeline pipeline;
  pipeline::GenerationInputs inputs;
};

// Records every event.
struct Recorder {
  std::vector<pipeline::GenerationEvent> events;
  pipeline::EventSink sink() {
    return [this](const pipeline::GenerationEvent& e) { events.push_back(e); };
  }
  template <typename T>
  std::vector<T> all() const {
    std::vector<T> out;
    for (const auto& e : events)
      if (const auto* x = std::get_if<T>(&e)) out.push_back(*x);
    return out;
  }
  // Index of the first event of type T, or -1.
  template <typename T>
  int first() const {
    for (std::size_t i = 0; i < events.size(); ++i)
      if (std::holds_alternative<T>(events[i])) return static_cast<int>(i);
    return -1;
  }
};

// Counts draws, to prove that bad input fails before any work.
class CountingNoise : public pipeline::NoiseSource {
public:
  at::Tensor window_noise(int, const std::vector<std::int64_t>& shape, c10::Device device) override {
    ++draws;
    return at::randn(shape, at::TensorOptions().dtype(at::kBFloat16).device(device));
  }
  at::Tensor condition_noise(std::int64_t, const at::Tensor& like) override {
    ++draws;
    return at::randn_like(like);
  }
  int draws = 0;
};

void expect_case_passes(const std::string& name) {
  torch::NoGradGuard no_grad;
  conf::CheckOptions options;
  options.device = test_device().str();
  const auto metrics = conf::check_pipeline(conf::FixtureCase(fixture_case(name)), options);
  ASSERT_FALSE(metrics.empty());
  for (const auto& m : metrics) EXPECT_TRUE(m.passed) << name << ": " << m.name << " = " << m.value << " > " << m.tolerance;
}

}  // namespace

TEST(DfPipelineFixtures, Sync) { expect_case_passes("df_sync"); }
TEST(DfPipelineFixtures, Async) { expect_case_passes("df_async"); }
TEST(DfPipelineFixtures, LongVideoWithAddnoise) { expect_case_passes("df_long_addnoise"); }
TEST(DfPipelineFixtures, ImageToVideo) { expect_case_passes("df_i2v"); }

// The reference's execution choices (two guidance calls, a solver per frame with syncs, decode after
// the window) compute the same thing: they pass the same fixtures.
void expect_reference_path_passes(const std::string& name) {
  torch::NoGradGuard no_grad;
  Fixture f(name);
  f.pipeline.options() = pipeline::PipelineOptions::reference_path();
  const auto result = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  const int windows = f.fixture.manifest().value("windows", 1);
  ASSERT_EQ(static_cast<int>(result.window_latents.size()), windows);
  for (int i = 0; i < windows; ++i)
    EXPECT_LT(conf::relative_l2(result.window_latents[i], f.fixture.tensor("out.latents" + std::to_string(i))),
              f.fixture.tolerance("latents_max"))
        << name << " window " << i;
  EXPECT_LT(conf::mean_abs_error(result.video, f.fixture.tensor("out.video")), f.fixture.tolerance("video_mae_max"));
}

TEST(DfPipelineFixtures, ReferencePathAsync) { expect_reference_path_passes("df_async"); }
TEST(DfPipelineFixtures, ReferencePathLongVideo) { expect_reference_path_passes("df_long_addnoise"); }

TEST(DfPipeline, ImagePrefixIsEncodedFromTheReferencePixels) {
  // The reference's pixels for the image (x / 127.5 - 1) are recorded as mid.encode_in0.
  const conf::FixtureCase fixture(fixture_case("df_i2v"));
  const auto inputs = conf::fixture_generation_inputs(fixture);
  EXPECT_TRUE(at::equal(inputs.start_image.unsqueeze(0), fixture.tensor("mid.encode_in0")));
}

TEST(DfPipeline, EventsDescribeTheRunAndFramesStreamInOrder) {
  torch::NoGradGuard no_grad;
  Fixture f("df_long_addnoise");
  Recorder rec;
  const auto noise = conf::fixture_noise(f.fixture);
  const auto result = f.pipeline.generate(f.inputs, *noise, rec.sink());

  ASSERT_EQ(rec.first<pipeline::GenerationStarted>(), 0);
  const auto plan = rec.all<pipeline::GenerationStarted>()[0].plan;
  EXPECT_EQ(plan.windows.size(), 3u);
  EXPECT_EQ(plan.total_rows, 12);
  EXPECT_EQ(plan.model_calls, 24);
  EXPECT_TRUE(std::holds_alternative<pipeline::GenerationFinished>(rec.events.back()));
  EXPECT_EQ(std::get<pipeline::GenerationFinished>(rec.events.back()).frames, 33);

  const auto rows = rec.all<pipeline::RowDone>();
  ASSERT_EQ(rows.size(), 12u);
  EXPECT_EQ(rows.back().rows_done, 12);
  EXPECT_EQ(rows.back().rows_total, 12);
  EXPECT_EQ(rows[5].window, 1);
  EXPECT_EQ(rows[5].row, 1);
  EXPECT_GE(rows.back().elapsed_seconds, rows.front().elapsed_seconds);
  EXPECT_EQ(rec.all<pipeline::WindowDone>().size(), 3u);

  // The decoded blocks tile the video, in order, and are the result's frames.
  std::int64_t next = 0;
  std::vector<at::Tensor> frames;
  for (const auto& block : rec.all<pipeline::BlockDecoded>()) {
    EXPECT_EQ(block.first_frame, next);
    next += block.frames.count();
    frames.push_back(pipeline::tensor_of(block.frames));
  }
  EXPECT_EQ(next, 33);
  EXPECT_TRUE(at::equal(at::cat(frames), result.video));
}

TEST(DfPipeline, StreamingDecodeShowsEarlyFramesAndEqualsOneDecodeAtTheEnd) {
  torch::NoGradGuard no_grad;
  Fixture f("df_async");  // ar_step 2: frame 0 is final after 6 of 14 rows
  Recorder streaming;
  const auto streamed = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture), streaming.sink());
  const auto blocks = streaming.all<pipeline::BlockDecoded>();
  ASSERT_GT(blocks.size(), 1u);
  EXPECT_EQ(blocks[0].first_frame, 0);
  // The first frames arrive while rows are still running.
  int rows_before_first_block = 0;
  for (int i = 0; i < streaming.first<pipeline::BlockDecoded>(); ++i)
    rows_before_first_block += std::holds_alternative<pipeline::RowDone>(streaming.events[i]) ? 1 : 0;
  EXPECT_EQ(rows_before_first_block, 6);

  f.pipeline.options().streaming_decode = false;
  Recorder whole;
  const auto at_end = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture), whole.sink());
  EXPECT_EQ(whole.all<pipeline::BlockDecoded>().size(), 1u);
  EXPECT_TRUE(at::equal(streamed.video, at_end.video));
  EXPECT_TRUE(at::equal(streamed.window_latents[0], at_end.window_latents[0]));
}

TEST(DfPipeline, ALongDecodeComesInBlocksOfAFewLatentsWithTheSameVideo) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");  // 5 latent frames, all final after the last row
  f.pipeline.options().decode_latents_per_call = 4;
  Recorder blocks;
  const auto in_blocks = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture), blocks.sink());
  const auto decoded = blocks.all<pipeline::BlockDecoded>();
  ASSERT_EQ(decoded.size(), 2u);
  EXPECT_EQ(decoded[0].frames.count(), 1 + 4 * 3);  // latents 0..3: the first gives 1 frame, the others 4
  EXPECT_EQ(decoded[1].frames.count(), 4);
  EXPECT_EQ(decoded[1].first_frame, 1 + 4 * 3);

  f.pipeline.options().decode_latents_per_call = 0;
  Recorder one;
  const auto at_once = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture), one.sink());
  EXPECT_EQ(one.all<pipeline::BlockDecoded>().size(), 1u);
  EXPECT_TRUE(at::equal(in_blocks.video, at_once.video));
}

TEST(DfPipeline, OnAGpuTheDitWaitsInHostMemoryDuringTheLastDecode) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");  // every latent is final after the last row: the whole decode is the last one
  const auto device = test_device();
  // The video, after checking where the DiT was during each decoded block and after generate().
  const auto run = [&](bool parks) {
    int blocks = 0, parked_blocks = 0;
    auto sink = [&](const pipeline::GenerationEvent& e) {
      if (!std::holds_alternative<pipeline::BlockDecoded>(e)) return;
      ++blocks;
      parked_blocks += f.pipeline.dit()->patch_embedding->weight.device() != device ? 1 : 0;
    };
    auto video = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture), sink).video;
    EXPECT_GT(blocks, 0);
    EXPECT_EQ(parked_blocks, parks ? blocks : 0);
    EXPECT_EQ(f.pipeline.dit()->patch_embedding->weight.device(), device);  // back before generate() returns
    return video;
  };
  const auto parked = run(device.is_cuda());
  f.pipeline.options().park_dit_up_to_bytes = 1;  // a DiT larger than the limit stays
  const auto resident = run(false);
  EXPECT_TRUE(at::equal(parked, resident));
  f.pipeline.options().park_dit_up_to_bytes = pipeline::PipelineOptions{}.park_dit_up_to_bytes;
  EXPECT_TRUE(at::equal(run(device.is_cuda()), resident));
}

TEST(DfPipeline, TwoGuidanceCallsMatchTheBatchedCall) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");
  const auto batched = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  f.pipeline.options().batched_cfg = false;
  const auto separate = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  // bf16 rounding over 6 solver steps: the fixtures' own latent tolerance scale, far below it.
  EXPECT_LT(conf::relative_l2(batched.window_latents[0], separate.window_latents[0]), 2e-2);
  EXPECT_LT(conf::mean_abs_error(batched.video, separate.video), 2.0);
}

TEST(DfPipeline, CancelKeepsFinishedWindows) {
  torch::NoGradGuard no_grad;
  Fixture f("df_long_addnoise");
  const auto full = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));

  std::atomic<bool> cancel{false};
  Recorder rec;
  auto sink = [&](const pipeline::GenerationEvent& e) {
    rec.events.push_back(e);
    if (const auto* row = std::get_if<pipeline::RowDone>(&e); row && row->window == 1 && row->row == 1) cancel = true;
  };
  const auto result = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture), sink, &cancel);
  EXPECT_TRUE(result.cancelled);
  EXPECT_EQ(result.window_latents.size(), 1u);
  EXPECT_EQ(result.video.size(0), 17);  // window 0, whole
  EXPECT_TRUE(at::equal(result.video, full.video.narrow(0, 0, 17)));
  ASSERT_TRUE(std::holds_alternative<pipeline::GenerationCancelled>(rec.events.back()));
  EXPECT_EQ(std::get<pipeline::GenerationCancelled>(rec.events.back()).frames_kept, 17);
  EXPECT_EQ(rec.all<pipeline::RowDone>().size(), 6u);  // no row after the cancel
}

TEST(DfPipeline, BadInputFailsBeforeAnyWork) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");
  CountingNoise noise;
  auto expect_error = [&](pipeline::GenerationInputs inputs, ErrorCode code, const std::string& text) {
    try {
      f.pipeline.generate(inputs, noise);
      ADD_FAILURE() << "accepted: " << text;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), code) << e.what();
      EXPECT_NE(std::string(e.what()).find(text), std::string::npos) << e.what();
    }
  };
  auto in = f.inputs;
  in.negative_context = at::Tensor();
  expect_error(in, ErrorCode::BadArgument, "negative prompt embedding");
  in = f.inputs;
  in.context = at::zeros({1, 12, 65});
  expect_error(in, ErrorCode::ShapeMismatch, "[1, rows, 64]");
  in = f.inputs;
  in.settings.num_frames = 18;
  expect_error(in, ErrorCode::BadArgument, "not 1 + 4k");
  in = f.inputs;
  in.settings.has_start_image = true;
  expect_error(in, ErrorCode::BadArgument, "start image");
  in.start_image = at::zeros({3, 1, 32, 96});
  expect_error(in, ErrorCode::ShapeMismatch, "[3, 1, 64, 96]");
  in = f.inputs;
  in.settings.extends_video = true;
  in.settings.overlap_history = 9;
  in.input_video = at::zeros({3, 5, 64, 96});
  expect_error(in, ErrorCode::BadArgument, "fewer than overlap_history");
  EXPECT_EQ(noise.draws, 0);

  // Guidance off needs no negative prompt.
  in = f.inputs;
  in.settings.guidance_scale = 1.0;
  in.negative_context = at::Tensor();
  in.settings.steps = 2;
  EXPECT_EQ(f.pipeline.generate(in, noise).video.size(0), 17);
}

TEST(DfPipeline, EndImageConditionsButIsNotDecoded) {
  torch::NoGradGuard no_grad;
  Fixture f("df_i2v");
  auto without_end = f.inputs;
  without_end.settings.has_start_image = false;
  without_end.start_image = at::Tensor();
  without_end.settings.ar_step = 1;
  auto with_end = without_end;
  with_end.settings.has_end_image = true;
  with_end.end_image = f.inputs.start_image;

  CountingNoise noise;  // global RNG: reseeded so both runs start from the same noise
  at::manual_seed(0);
  const auto result = f.pipeline.generate(with_end, noise);
  EXPECT_EQ(result.video.size(0), 17);
  EXPECT_EQ(result.window_latents[0].size(2), 5);  // the end latent is dropped before decoding
  EXPECT_EQ(result.rows_run, 4 + 1 * 4);          // no rows for the end image's column
  at::manual_seed(0);
  const auto plain = f.pipeline.generate(without_end, noise);
  EXPECT_GT(conf::relative_l2(result.window_latents[0], plain.window_latents[0]), 1e-3);  // the model saw it
}

TEST(DfPipeline, VideoExtensionStartsWithTheInputVideo) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");
  const auto reference = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  auto in = f.inputs;
  in.settings.extends_video = true;
  in.settings.overlap_history = 9;
  in.settings.base_num_frames = 17;
  in.settings.steps = 2;
  in.input_video = pipeline::uint8_to_pixels(reference.video.narrow(0, 0, 13));
  CountingNoise noise;
  const auto result = f.pipeline.generate(in, noise);
  // 13 input frames, then one window of 5 latents whose first 9 decoded frames repeat the overlap.
  EXPECT_EQ(result.plan.windows.size(), 1u);
  EXPECT_EQ(result.video.size(0), 13 + 8);
  // The input frames pass through the reference's uint8 -> [-1, 1] -> uint8 conversions, whose float
  // rounding can lose one level (e.g. 1 -> 0.99999994 -> 0).
  const auto diff = (result.video.narrow(0, 0, 13).to(at::kInt) - reference.video.narrow(0, 0, 13).to(at::kInt)).abs();
  EXPECT_LE(diff.max().item<int>(), 1);
  EXPECT_FALSE(at::equal(result.video.narrow(0, 13, 8), reference.video.narrow(0, 9, 8)));  // new frames
}

TEST(DfPipeline, SeededNoiseIsReproducible) {
  pipeline::SeededNoise a(42, at::kCPU), b(42, at::kCPU), c(43, at::kCPU);
  const auto x = a.window_noise(0, {16, 2, 4, 4}, at::kCPU);
  EXPECT_EQ(x.scalar_type(), at::kBFloat16);
  EXPECT_TRUE(at::equal(x, b.window_noise(0, {16, 2, 4, 4}, at::kCPU)));
  EXPECT_FALSE(at::equal(x, c.window_noise(0, {16, 2, 4, 4}, at::kCPU)));
  EXPECT_FALSE(at::equal(x, a.window_noise(1, {16, 2, 4, 4}, at::kCPU)));  // the next window draws anew

  pipeline::RecordedNoise recorded({x}, {});
  EXPECT_THROW(recorded.window_noise(1, {16, 2, 4, 4}, at::kCPU), Error);
  EXPECT_THROW(recorded.window_noise(0, {16, 3, 4, 4}, at::kCPU), Error);
  EXPECT_THROW(recorded.condition_noise(0, x), Error);
}

TEST(PixelFrames, ReferenceConversionTruncatesAndClamps) {
  const auto pixels = at::tensor({-1.5f, -1.0f, 0.0f, 0.999f, 1.0f, 2.0f}).view({1, 1, 2, 3}).expand({3, 1, 2, 3});
  const auto frames = pipeline::pixels_to_uint8(pixels);
  ASSERT_EQ(frames.sizes(), (std::vector<std::int64_t>{1, 2, 3, 3}));
  // (v / 2 + 0.5) * 255 truncated: 0, 0, 127 (127.5), 254 (254.87), 255, 255
  const std::vector<int> expected = {0, 0, 127, 254, 255, 255};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(frames[0][i / 3][i % 3][1].item<int>(), expected[i]) << i;
  const auto back = pipeline::uint8_to_pixels(frames);
  EXPECT_EQ(back.sizes(), (std::vector<std::int64_t>{3, 1, 2, 3}));
  EXPECT_FLOAT_EQ(back[0][0][0][0].item<float>(), -1.0f);
  EXPECT_FLOAT_EQ(back[0][0][1][2].item<float>(), 1.0f);
  EXPECT_THROW(pipeline::pixels_to_uint8(at::zeros({2, 1, 2, 3})), Error);
}

// --- fast modes (opt-in) -------------------------------------------------------------------------
// Each is checked for what it must do; what it costs in quality is the benchmark's to measure, at
// real shapes (docs/performance.md).

namespace {

pipeline::GenerationResult generate_with(Fixture& f, const std::function<void(pipeline::GenerationSettings&)>& change) {
  auto inputs = f.inputs;
  change(inputs.settings);
  return f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture));
}

// Rows of the fixture's schedule whose updated frames are all within their last `k` steps.
int rows_in_last_steps(const Fixture& f, int k) {
  const auto& s = f.inputs.settings;
  const auto plan = pipeline::plan_generation(s);
  sched::DfScheduleParams p;
  p.num_frames = p.base_num_frames = static_cast<int>(plan.windows[0].latent_frames);
  p.ar_step = s.ar_step;
  p.causal_block_size = s.causal_block_size;
  const sched::DfSchedule schedule(p, sched::make_flow_timesteps(s.steps, s.shift).timesteps);
  int rows = 0;
  for (int r = 0; r < schedule.rows(); ++r) {
    bool updated = false, late = true;
    for (int fr = 0; fr < schedule.frames(); ++fr)
      if (schedule.updates(r, fr)) {
        updated = true;
        late = late && schedule.counter(r, fr) > s.steps - k;
      }
    rows += updated && late;
  }
  return rows;
}

}  // namespace

TEST(DfPipelineFastModes, CfgSkipOfEveryStepIsTheConditionalPredictionAlone) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");
  const auto skipped = generate_with(f, [](auto& s) { s.cfg_skip_last_steps = s.steps; });
  const auto unguided = generate_with(f, [](auto& s) { s.guidance_scale = 1.0; });
  EXPECT_EQ(skipped.cfg_skipped_rows, skipped.rows_run);
  EXPECT_EQ(skipped.model_calls_run, skipped.rows_run);
  EXPECT_TRUE(at::equal(skipped.window_latents[0], unguided.window_latents[0]));
}

TEST(DfPipelineFastModes, CfgSkipTouchesOnlyRowsInTheLastSteps) {
  torch::NoGradGuard no_grad;
  for (const char* name : {"df_sync", "df_async"}) {
    Fixture f(name);
    const auto exact = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
    const auto skipped = generate_with(f, [](auto& s) { s.cfg_skip_last_steps = 2; });
    const int expected = rows_in_last_steps(f, 2);
    ASSERT_GT(expected, 0) << name;
    EXPECT_EQ(skipped.cfg_skipped_rows, expected) << name;
    EXPECT_EQ(skipped.model_calls_run, exact.model_calls_run - expected) << name;
    EXPECT_EQ(exact.cfg_skipped_rows, 0) << name;
    EXPECT_FALSE(at::equal(skipped.window_latents[0], exact.window_latents[0])) << name;
  }
}

TEST(DfPipelineFastModes, StepCacheBelowAnyChangeIsTheExactPath) {
  torch::NoGradGuard no_grad;
  Fixture f("df_async");
  const auto exact = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  const auto cached = generate_with(f, [](auto& s) { s.step_cache_threshold = 1e-30; });
  EXPECT_EQ(cached.cached_rows, 0);
  EXPECT_TRUE(at::equal(cached.window_latents[0], exact.window_latents[0]));
}

TEST(DfPipelineFastModes, StepCacheAlwaysRunsEachFramesFirstAndLastStep) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");  // one timestep for all frames: rows 0 and N-1 hold the first and last steps
  const auto cached = generate_with(f, [](auto& s) { s.step_cache_threshold = 1e9; });
  EXPECT_EQ(cached.cached_rows, cached.rows_run - 2);
  EXPECT_EQ(cached.model_calls_run, 2 * cached.rows_run);  // the head still runs for every call
  EXPECT_TRUE(at::isfinite(cached.window_latents[0]).all().item<bool>());
  const auto exact = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  EXPECT_FALSE(at::equal(cached.window_latents[0], exact.window_latents[0]));
}

TEST(DfPipelineFastModes, Fp8NeedsAFloat8GpuAndSaysSoBeforeAnyWork) {
  torch::NoGradGuard no_grad;
  if (test_device().is_cuda()) GTEST_SKIP() << "the CUDA run checks fp8 itself (WanDit.Fp8ForwardStaysCloseToBf16)";
  Fixture f("df_sync");
  auto inputs = f.inputs;
  inputs.settings.fp8 = true;
  CountingNoise noise;
  ErrorCode code{};
  const auto message = skyreels::test::error_text([&] { f.pipeline.generate(inputs, noise); }, &code);
  EXPECT_EQ(code, ErrorCode::Unsupported);
  EXPECT_NE(message.find("float8"), std::string::npos) << message;
  EXPECT_EQ(noise.draws, 0);
  EXPECT_FALSE(f.pipeline.dit()->fp8());
}

TEST(DfPipelineFastModes, RowEventsSayWhichRowsUsedAFastMode) {
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");
  auto inputs = f.inputs;
  inputs.settings.cfg_skip_last_steps = 2;
  inputs.settings.step_cache_threshold = 1e9;
  Recorder rec;
  const auto result = f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture), rec.sink());
  const auto rows = rec.all<pipeline::RowDone>();
  ASSERT_EQ(static_cast<int>(rows.size()), result.rows_run);
  int cached = 0, unguided = 0;
  for (const auto& r : rows) {
    cached += r.cached;
    unguided += r.unguided;
  }
  EXPECT_EQ(cached, result.cached_rows);
  EXPECT_EQ(unguided, result.cfg_skipped_rows);
  EXPECT_EQ(unguided, 2);
  EXPECT_FALSE(rows.front().cached);  // first and last steps run the blocks
  EXPECT_FALSE(rows.back().cached);
  EXPECT_TRUE(rows.back().unguided);
  EXPECT_FALSE(rows.front().unguided);
}

// --- the Euler sampler on explicit timesteps (step-distilled models) ------------------------------

namespace {

// The few-step recipe on a fixture's inputs: Euler on 1000 750 500 250 at shift 5, no guidance, and no
// negative prompt embedding at all (it must not be needed).
pipeline::GenerationInputs few_step(pipeline::GenerationInputs inputs) {
  auto& s = inputs.settings;
  s.sampler = skyreels::Sampler::Euler;
  s.timestep_list = {1000, 750, 500, 250};
  s.steps = 4;
  s.shift = 5.0;
  s.guidance_scale = 1.0;
  inputs.negative_context = at::Tensor();
  return inputs;
}

// Rows of a window's schedule that update some frame (the pipeline runs only those).
int rows_with_updates(const pipeline::GenerationSettings& s, const std::vector<std::int64_t>& timesteps) {
  sched::DfScheduleParams p;
  p.num_frames = p.base_num_frames = static_cast<int>(s.latent_frames());
  p.ar_step = s.ar_step;
  p.causal_block_size = s.causal_block_size;
  const sched::DfSchedule schedule(p, timesteps);
  int rows = 0;
  for (int r = 0; r < schedule.rows(); ++r) rows += schedule.updated_frames(r).first < schedule.updated_frames(r).second;
  return rows;
}

}  // namespace

TEST(DfPipelineEuler, SyncAndAsyncRunsAreDeterministicWithOneCallPerRow) {
  torch::NoGradGuard no_grad;
  for (const char* name : {"df_sync", "df_async"}) {
    Fixture f(name);
    const auto inputs = few_step(f.inputs);
    const auto first = f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture));
    const auto again = f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture));
    EXPECT_TRUE(at::equal(first.window_latents[0], again.window_latents[0])) << name;
    EXPECT_TRUE(at::equal(first.video, again.video)) << name;
    EXPECT_TRUE(at::isfinite(first.window_latents[0]).all().item<bool>()) << name;
    const auto levels = sched::flow_timesteps_from_list(inputs.settings.timestep_list, inputs.settings.shift);
    EXPECT_EQ(first.rows_run, rows_with_updates(inputs.settings, levels.timesteps)) << name;
    EXPECT_EQ(first.model_calls_run, first.rows_run) << name;  // guidance 1: one DiT call per row

    // Another sampler on as many steps is another video.
    auto unipc = inputs;
    unipc.settings.sampler = skyreels::Sampler::UniPC;
    unipc.settings.timestep_list.clear();
    const auto other = f.pipeline.generate(unipc, *conf::fixture_noise(f.fixture));
    EXPECT_FALSE(at::equal(other.window_latents[0], first.window_latents[0])) << name;
  }
}

TEST(DfPipelineEuler, OneSolverPerFrameGivesTheSameLatents) {
  // The reference path's per-frame solvers and the batched one keep each frame's counter apart; in an
  // asynchronous window the frames of a row sit at different steps.
  torch::NoGradGuard no_grad;
  Fixture f("df_async");
  const auto inputs = few_step(f.inputs);
  const auto batched = f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture));
  f.pipeline.options().per_frame_solver = true;
  const auto per_frame = f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture));
  EXPECT_TRUE(at::equal(batched.window_latents[0], per_frame.window_latents[0]));
}

TEST(DfPipelineEuler, OneStepFromNoiseIsTheCleanPrediction) {
  // One Euler step from sigma 1 to 0 is x - v: the model's prediction of the clean latents, which the
  // same DiT call gives here.
  torch::NoGradGuard no_grad;
  Fixture f("df_sync");
  auto inputs = few_step(f.inputs);
  inputs.settings.timestep_list = {1000};
  inputs.settings.steps = 1;
  const auto noise = conf::fixture_noise(f.fixture);
  const auto result = f.pipeline.generate(inputs, *noise);
  const auto& s = inputs.settings;
  const auto x = conf::fixture_noise(f.fixture)
                     ->window_noise(0, {16, s.latent_frames(), s.height / 8, s.width / 8}, test_device())
                     .to(at::kBFloat16);
  auto& dit = const_cast<skyreels::model::WanDit&>(f.pipeline.dit());
  const auto t = at::full({s.latent_frames()}, 1000, at::TensorOptions().dtype(at::kLong).device(test_device()));
  const auto hw = (s.height / 8 / dit->config().patch_h) * (s.width / 8 / dit->config().patch_w);
  const auto context = inputs.context.dim() == 2 ? inputs.context.unsqueeze(0) : inputs.context;
  const auto& call = f.pipeline.options().dit_call;
  const auto time = dit->time_embedding_for(t, x.size(1), hw, s.fps_index(), call);
  const auto v = dit->forward_embedded(x.unsqueeze(0), time, context.to(test_device()), call).v[0];
  const auto expected = (x.to(at::kFloat) - v.to(at::kFloat)).to(at::kBFloat16);
  EXPECT_TRUE(at::equal(result.window_latents[0][0].to(test_device()), expected));
}

// --- the official causal attention ----------------------------------------------------------------

TEST(DfPipelineCausalAttention, EveryDitCallGetsTheBlockMask) {
  torch::NoGradGuard no_grad;
  Fixture f("df_async");  // 5 latent frames in blocks of 1: the mask hides later frames
  const auto bidirectional = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  auto inputs = f.inputs;
  inputs.settings.causal_attention = true;
  const auto causal = f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture));
  EXPECT_FALSE(at::equal(causal.window_latents[0], bidirectional.window_latents[0]));
  EXPECT_TRUE(at::isfinite(causal.window_latents[0]).all().item<bool>());

  // The same as a run whose every DiT call is given the mask directly, with guidance batched or as two
  // calls, and through the step cache's path.
  f.pipeline.options().dit_call.causal_block_frames = 1;
  const auto masked = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  EXPECT_TRUE(at::equal(causal.window_latents[0], masked.window_latents[0]));
  f.pipeline.options().batched_cfg = false;
  const auto two_calls_masked = f.pipeline.generate(f.inputs, *conf::fixture_noise(f.fixture));
  f.pipeline.options().dit_call.causal_block_frames = 0;
  const auto two_calls_causal = f.pipeline.generate(inputs, *conf::fixture_noise(f.fixture));
  EXPECT_TRUE(at::equal(two_calls_causal.window_latents[0], two_calls_masked.window_latents[0]));
  f.pipeline.options().batched_cfg = true;
  auto cached = inputs;
  cached.settings.step_cache_threshold = 1e-30;  // the step cache's calls, never reusing
  const auto through_cache = f.pipeline.generate(cached, *conf::fixture_noise(f.fixture));
  EXPECT_TRUE(at::equal(through_cache.window_latents[0], causal.window_latents[0]));

  // One causal block over the whole window hides nothing.
  auto one_block = f.inputs;
  one_block.settings.causal_block_size = 5;
  const auto open = f.pipeline.generate(one_block, *conf::fixture_noise(f.fixture));
  one_block.settings.causal_attention = true;
  const auto one_block_causal = f.pipeline.generate(one_block, *conf::fixture_noise(f.fixture));
  EXPECT_TRUE(at::equal(one_block_causal.window_latents[0], open.window_latents[0]));
}
