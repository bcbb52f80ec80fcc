#include <filesystem>

#include <ATen/ATen.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "io/tensor_source.h"
#include "model/wan_vae.h"

namespace skyreels::conformance {

// The bf16 case ran the reference under autocast(bf16): convolutions in bf16.
at::ScalarType fixture_compute_dtype(const FixtureCase& fixture) {
  const auto run = fixture.manifest().value("run", std::string());
  return run.find("autocast bf16: True") != std::string::npos ? at::kBFloat16 : at::kFloat;
}

std::vector<Metric> check_vae(const FixtureCase& fixture, const CheckOptions& options) {
  torch::NoGradGuard no_grad;
  const c10::Device device(options.device);
  const auto dtype = fixture_compute_dtype(fixture);
  auto file = std::make_shared<io::SafetensorsFile>((fixture.dir() / "tensors.safetensors").string());
  auto vae = model::load_wan_vae(io::prefixed_view(io::safetensors_source(file), "w."), device, dtype);
  const double tolerance = fixture.tolerance("max");

  const auto z = fixture.tensor("in.z");
  const auto decoded = vae->decode(z);
  std::vector<Metric> metrics = {
      make_metric("encode rel L2", relative_l2(vae->encode(fixture.tensor("in.video")), fixture.tensor("out.encoded")),
                  tolerance),
      make_metric("decode rel L2", relative_l2(decoded, fixture.tensor("out.decoded")), tolerance),
  };
  // The same weights saved by torch.save (the official Wan2.1_VAE.pth format) give the same model.
  const auto pth = fixture.dir() / "weights.pth";
  if (std::filesystem::exists(pth)) {
    auto from_pth = model::load_wan_vae(io::open_weights(pth.string()), device, dtype);
    metrics.push_back(make_metric("decode with weights.pth vs safetensors weights", relative_l2(from_pth->decode(z), decoded), 0.0));
  }
  return metrics;
}

}  // namespace skyreels::conformance
