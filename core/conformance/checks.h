#pragma once

#include <vector>

#include "conformance/fixture_case.h"
#include "io/tensor_source.h"
#include "model/wan_dit.h"
#include "skyreels/conformance.h"

namespace skyreels::conformance {

// One check per fixture kind; each returns the metrics it compared. Throwing is fine: the runner
// turns exceptions into CaseStatus::Error.
std::vector<Metric> check_schedule(const FixtureCase& fixture, const CheckOptions& options);
std::vector<Metric> check_unipc(const FixtureCase& fixture, const CheckOptions& options);
std::vector<Metric> check_dit(const FixtureCase& fixture, const CheckOptions& options);

// Builds a fixture's DiT from its "w.*"-style weights and the manifest's config object.
model::WanDit load_fixture_dit(const io::TensorSourcePtr& weights, const nlohmann::json& config, c10::Device device);

// A metric whose value must not exceed the tolerance (NaN fails).
Metric make_metric(const std::string& name, double value, double tolerance);

}  // namespace skyreels::conformance
