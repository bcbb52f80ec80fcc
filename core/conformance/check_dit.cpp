#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "io/tensor_source.h"
#include "model/wan_dit.h"

namespace skyreels::conformance {

model::WanDit load_fixture_dit(const io::TensorSourcePtr& weights, const nlohmann::json& config, c10::Device device) {
  const auto json = io::JsonConfig::parse(config.dump(), "fixture DiT config");
  return model::load_wan_dit(weights, model::WanDitConfig::detect(*weights, &json), device);
}

std::vector<Metric> check_dit(const FixtureCase& fixture, const CheckOptions& options) {
  torch::NoGradGuard no_grad;
  const c10::Device device(options.device);
  auto file = std::make_shared<io::SafetensorsFile>((fixture.dir() / "tensors.safetensors").string());
  const auto weights = io::prefixed_view(io::safetensors_source(file), "w.");
  auto dit = load_fixture_dit(weights, fixture.manifest().at("config"), device);

  const auto& fps = fixture.manifest().value("fps_index", nlohmann::json());
  const int fps_index = fps.is_number_integer() ? fps.get<int>() : 1;  // null: the model has no fps embedding
  const auto t = fixture.tensor("in.t").to(device);
  model::WanDitCall call;
  call.parallel = options.parallel;
  // The official --causal_attention: block-causal self-attention over blocks of causal_block_size frames.
  const auto& causal = fixture.manifest().value("causal_attention", nlohmann::json());
  if (causal.is_object()) call.causal_block_frames = causal.at("causal_block_size").get<std::int64_t>();
  const auto v =
      dit->forward(fixture.tensor("in.x").to(device), t, fixture.tensor("in.context").to(device), fps_index, call);
  return {make_metric("out.v rel L2", relative_l2(v, fixture.tensor("out.v")), fixture.tolerance("max"))};
}

}  // namespace skyreels::conformance
