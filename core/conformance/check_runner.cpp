#include <algorithm>
#include <filesystem>
#include <map>

#include <c10/util/Exception.h>

#include "conformance/checks.h"
#include "skyreels/conformance.h"
#include "skyreels/error.h"

namespace skyreels::conformance {
namespace {

using CheckFn = std::vector<Metric> (*)(const FixtureCase&, const CheckOptions&);

// Fixture kind -> the check that runs it. Later kinds (dit, vae, t5, pipeline) join as they land.
const std::map<std::string, CheckFn>& registry() {
  static const std::map<std::string, CheckFn> checks = {
      {"schedule", &check_schedule},
      {"unipc", &check_unipc},
      {"dit", &check_dit},
      {"vae", &check_vae},
      {"t5", &check_t5},
      {"pipeline", &check_pipeline},
  };
  return checks;
}

}  // namespace

Metric make_metric(const std::string& name, double value, double tolerance) {
  return Metric{name, value, tolerance, value <= tolerance};  // NaN compares false: fails
}

const char* to_string(CaseStatus status) {
  switch (status) {
    case CaseStatus::Invalid: return "INVALID";
    case CaseStatus::Passed: return "PASS";
    case CaseStatus::Failed: return "FAIL";
    case CaseStatus::NotImplemented: return "TODO";
    case CaseStatus::NotACase: return "SKIP";
    case CaseStatus::Error: return "ERROR";
  }
  return "INVALID";
}

std::vector<std::string> implemented_kinds() {
  std::vector<std::string> kinds;
  for (const auto& [kind, fn] : registry()) kinds.push_back(kind);
  return kinds;
}

std::vector<std::string> find_cases(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) throw Error(ErrorCode::NotFound, path + ": not a folder");
  if (fs::exists(fs::path(path) / "manifest.json")) return {path};
  std::vector<std::string> cases;
  for (const auto& entry : fs::directory_iterator(path, ec))
    if (entry.is_directory() && fs::exists(entry.path() / "manifest.json")) cases.push_back(entry.path().string());
  if (cases.empty()) throw Error(ErrorCode::NotFound, path + ": no fixture cases (folders with manifest.json)");
  std::sort(cases.begin(), cases.end());
  return cases;
}

CaseResult run_case(const std::string& case_dir, const CheckOptions& options) {
  CaseResult result;
  result.case_dir = case_dir;
  result.name = std::filesystem::path(case_dir).filename().string();
  try {
    FixtureCase fixture(case_dir);
    result.kind = fixture.kind();
    if (result.kind == "models") {
      result.status = CaseStatus::NotACase;
      result.message = "shared weights of the pipeline cases";
      return result;
    }
    const auto it = registry().find(result.kind);
    if (it == registry().end()) {
      result.status = CaseStatus::NotImplemented;
      result.message = "kind \"" + result.kind + "\" is not implemented yet";
      return result;
    }
    result.metrics = it->second(fixture, options);
    const bool all_passed = std::all_of(result.metrics.begin(), result.metrics.end(),
                                        [](const Metric& m) { return m.passed; });
    result.status = all_passed && !result.metrics.empty() ? CaseStatus::Passed : CaseStatus::Failed;
  } catch (const Error& e) {
    result.status = CaseStatus::Error;
    result.message = e.what();
  } catch (const c10::Error& e) {
    result.status = CaseStatus::Error;
    result.message = e.what_without_backtrace();
  } catch (const std::exception& e) {
    result.status = CaseStatus::Error;
    result.message = e.what();
  }
  return result;
}

}  // namespace skyreels::conformance
