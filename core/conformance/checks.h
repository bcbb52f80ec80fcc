#pragma once

#include <vector>

#include "conformance/fixture_case.h"
#include "io/tensor_source.h"
#include "model/wan_dit.h"
#include "pipeline/df_pipeline.h"
#include "pipeline/noise_source.h"
#include "skyreels/conformance.h"

namespace skyreels::conformance {

// One check per fixture kind; each returns the metrics it compared. Throwing is fine: the runner
// turns exceptions into CaseStatus::Error.
std::vector<Metric> check_schedule(const FixtureCase& fixture, const CheckOptions& options);
std::vector<Metric> check_unipc(const FixtureCase& fixture, const CheckOptions& options);
std::vector<Metric> check_dit(const FixtureCase& fixture, const CheckOptions& options);
std::vector<Metric> check_vae(const FixtureCase& fixture, const CheckOptions& options);
std::vector<Metric> check_t5(const FixtureCase& fixture, const CheckOptions& options);
std::vector<Metric> check_pipeline(const FixtureCase& fixture, const CheckOptions& options);

// Builds a fixture's DiT from its "w.*"-style weights and the manifest's config object.
model::WanDit load_fixture_dit(const io::TensorSourcePtr& weights, const nlohmann::json& config, c10::Device device);

// A pipeline case's models (pipeline_models: DiT and bf16-autocast VAE), inputs and recorded draws.
pipeline::DfPipeline load_fixture_pipeline(const FixtureCase& fixture, c10::Device device);
pipeline::GenerationInputs fixture_generation_inputs(const FixtureCase& fixture);
std::unique_ptr<pipeline::RecordedNoise> fixture_noise(const FixtureCase& fixture);

// A metric whose value must not exceed the tolerance (NaN fails).
Metric make_metric(const std::string& name, double value, double tolerance);

}  // namespace skyreels::conformance
