#include <filesystem>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "io/tensor_source.h"
#include "model/t5_encoder.h"
#include "skyreels/error.h"

namespace skyreels::conformance {
namespace {

// The reference ran under autocast(bf16) when the manifest says so or the output is bf16.
model::T5Compute fixture_compute(const FixtureCase& fixture) {
  const auto run = fixture.manifest().value("run", std::string());
  const bool autocast = run.find("autocast bf16: True") != std::string::npos ||
                        fixture.tensor("out.context").scalar_type() == at::kBFloat16;
  return autocast ? model::T5Compute::Bf16Autocast : model::T5Compute::Float32;
}

model::T5LoadOptions fixture_options(const nlohmann::json& config, model::T5Compute compute, at::ScalarType dtype) {
  if (config.value("shared_pos", false))
    throw Error(ErrorCode::Unsupported, "T5 fixture with shared_pos=true (only umT5's per-layer tables are supported)");
  model::T5LoadOptions o;
  o.dtype = dtype;
  o.compute = compute;
  o.num_heads = config.at("num_heads").get<std::int64_t>();
  o.eps = config.value("eps", 1e-6);
  o.max_dist = config.value("max_dist", std::int64_t{128});
  return o;
}

// The encoder's shapes must be the manifest's: a fixture that disagrees with its own weights is broken.
void check_config(const model::T5EncoderConfig& c, const nlohmann::json& config) {
  const auto agree = [&](const char* key, std::int64_t from_weights) {
    if (config.contains(key) && config.at(key).get<std::int64_t>() != from_weights)
      throw Error(ErrorCode::CorruptFile, std::string("fixture config \"") + key + "\" is " + config.at(key).dump() +
                                              " but the weights have " + std::to_string(from_weights));
  };
  agree("vocab", c.vocab);
  agree("dim", c.dim);
  agree("dim_attn", c.dim_attn);
  agree("dim_ffn", c.dim_ffn);
  agree("num_layers", c.num_layers);
  agree("num_buckets", c.num_buckets);
}

}  // namespace

std::vector<Metric> check_t5(const FixtureCase& fixture, const CheckOptions& options) {
  torch::NoGradGuard no_grad;
  const c10::Device device(options.device);
  const auto& config = fixture.manifest().at("config");
  const auto compute = fixture_compute(fixture);
  const auto expected = fixture.tensor("out.context");
  const auto ids = fixture.tensor("in.ids"), mask = fixture.tensor("in.mask");
  // Weights stay in the fixture's dtype (bf16 for the autocast case, as the reference held them).
  auto file = std::make_shared<io::SafetensorsFile>((fixture.dir() / "tensors.safetensors").string());
  const auto weights = io::prefixed_view(io::safetensors_source(file), "w.");
  const auto dtype = weights->tensor("token_embedding.weight").scalar_type();
  const auto load_options = fixture_options(config, compute, dtype);

  auto encoder = model::load_t5_encoder(weights, device, load_options);
  check_config(encoder->config(), config);
  const auto out = encoder->forward(ids, mask);
  const double tolerance = fixture.tolerance("max");
  std::vector<Metric> metrics = {
      make_metric(std::string("out.context rel L2 (") + model::to_string(compute) + ")", relative_l2(out, expected), tolerance)};

  // The same weights saved by torch.save: the .pth route must give the same encoder.
  const auto pth = fixture.dir() / "weights.pth";
  if (std::filesystem::exists(pth)) {
    auto from_pth = model::load_t5_encoder(io::open_weights(pth.string()), device, load_options);
    metrics.push_back(make_metric("weights.pth out.context rel L2", relative_l2(from_pth->forward(ids, mask), expected),
                                  tolerance));
  }
  return metrics;
}

}  // namespace skyreels::conformance
