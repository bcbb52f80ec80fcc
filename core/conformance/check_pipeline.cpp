#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "io/tensor_source.h"
#include "pipeline/pixel_frames.h"
#include "skyreels/error.h"

namespace skyreels::conformance {

pipeline::DfPipeline load_fixture_pipeline(const FixtureCase& fixture, c10::Device device) {
  const auto models = fixture.dir() / fixture.manifest().at("models").get<std::string>() / "tensors.safetensors";
  const auto source = io::safetensors_source(std::make_shared<io::SafetensorsFile>(models.string()));
  auto dit = load_fixture_dit(io::prefixed_view(source, "w.dit."), fixture.manifest().at("dit_config"), device);
  // The reference runs the whole pipeline under autocast(bf16): VAE convolutions in bf16.
  auto vae = model::load_wan_vae(io::prefixed_view(source, "w.vae."), device, at::kBFloat16);
  return pipeline::DfPipeline(std::move(dit), std::move(vae));
}

pipeline::GenerationInputs fixture_generation_inputs(const FixtureCase& fixture) {
  const auto& call = fixture.manifest().at("call");
  pipeline::GenerationInputs inputs;
  auto& s = inputs.settings;
  s.height = call.at("height").get<std::int64_t>();
  s.width = call.at("width").get<std::int64_t>();
  s.num_frames = call.at("num_frames").get<std::int64_t>();
  s.steps = call.at("num_inference_steps").get<int>();
  s.shift = call.at("shift").get<double>();
  s.guidance_scale = call.at("guidance_scale").get<double>();
  s.fps = call.at("fps").get<int>();
  s.ar_step = call.value("ar_step", 0);
  s.causal_block_size = call.value("causal_block_size", 1);
  s.base_num_frames = call.value("base_num_frames", s.num_frames);
  if (call.contains("overlap_history") && !call["overlap_history"].is_null())
    s.overlap_history = call["overlap_history"].get<std::int64_t>();
  s.addnoise_condition = call.value("addnoise_condition", 0);
  inputs.context = fixture.tensor(fixture.manifest().value("prompt_context", "in.context_pos"));
  // A case recorded without guidance has no negative prompt embedding, and the pipeline reads none.
  if (s.guidance_enabled())
    inputs.negative_context = fixture.tensor(fixture.manifest().value("negative_context", "in.context_neg"));
  if (fixture.has_tensor("in.image")) {
    s.has_start_image = true;
    inputs.start_image = pipeline::uint8_to_pixels(fixture.tensor("in.image"));  // already at the output size
  }
  return inputs;
}

std::unique_ptr<pipeline::RecordedNoise> fixture_noise(const FixtureCase& fixture) {
  std::vector<at::Tensor> windows, draws;
  const int window_count = fixture.manifest().value("windows", 1);
  const int draw_count = fixture.manifest().value("addnoise_draws", 0);
  for (int i = 0; i < window_count; ++i) windows.push_back(fixture.tensor("in.noise" + std::to_string(i)));
  for (int k = 0; k < draw_count; ++k) draws.push_back(fixture.tensor("in.addnoise" + std::to_string(k)));
  return std::make_unique<pipeline::RecordedNoise>(std::move(windows), std::move(draws));
}

std::vector<Metric> check_pipeline(const FixtureCase& fixture, const CheckOptions& options) {
  torch::NoGradGuard no_grad;
  auto pipeline = load_fixture_pipeline(fixture, c10::Device(options.device));
  pipeline.options().parallel = options.parallel;
  const auto inputs = fixture_generation_inputs(fixture);
  if (options.parallel) {
    // The engine's planner decides.
    const auto plan = pipeline::plan_parallel(options.parallel->size(), pipeline.dit()->config().num_heads,
                                              inputs.settings.guidance_enabled(), pipeline::ParallelMode::Auto,
                                              options.cfg_pair != nullptr);
    if (plan.cfg_parallel()) pipeline.options().cfg = {options.cfg_branch, options.cfg_pair, options.cfg_branch_index};
  }
  const auto noise = fixture_noise(fixture);
  const auto result = pipeline.generate(inputs, *noise);

  std::vector<Metric> metrics;
  const int windows = fixture.manifest().value("windows", 1);
  if (static_cast<int>(result.window_latents.size()) != windows)
    throw Error(ErrorCode::ShapeMismatch, "ran " + std::to_string(result.window_latents.size()) +
                                              " windows, the reference ran " + std::to_string(windows));
  for (int i = 0; i < windows; ++i) {
    const auto name = "out.latents" + std::to_string(i);
    metrics.push_back(make_metric(name + " rel L2", relative_l2(result.window_latents[i], fixture.tensor(name)),
                                  fixture.tolerance("latents_max")));
  }
  const auto expected = fixture.tensor("out.video");
  if (result.video.sizes() != expected.sizes())
    throw Error(ErrorCode::ShapeMismatch, "video has " + std::to_string(result.video.size(0)) +
                                              " frames, the reference " + std::to_string(expected.size(0)));
  metrics.push_back(make_metric("out.video MAE (levels)", mean_abs_error(result.video, expected),
                                fixture.tolerance("video_mae_max")));
  return metrics;
}

}  // namespace skyreels::conformance
