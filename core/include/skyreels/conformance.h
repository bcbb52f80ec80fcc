#pragma once

#include <string>
#include <vector>

namespace skyreels::model {
class SequenceParallel;
}

namespace skyreels::conformance {

// One compared quantity of a fixture case: `value` must not exceed `tolerance`.
struct Metric {
  std::string name;       // e.g. "samples rel L2 (max over steps)"
  double value = 0.0;
  double tolerance = 0.0;
  bool passed = false;
};

enum class CaseStatus {
  Invalid = 0,
  Passed,
  Failed,
  NotImplemented,  // the engine cannot run this kind yet
  NotACase,        // a folder of shared weights (kind "models")
  Error,           // the case could not be run (message says why)
};

struct CaseResult {
  std::string case_dir;
  std::string name;  // the case folder's name
  std::string kind;  // manifest "kind"
  CaseStatus status = CaseStatus::Invalid;
  std::vector<Metric> metrics;
  std::string message;  // for Error / NotImplemented / extra detail
};

struct CheckOptions {
  std::string device = "cpu";  // "cpu" or "cuda"
  // Run the DiT and pipeline cases split over the ranks of a multi-process run (see parallel/); null:
  // this process alone.
  const model::SequenceParallel* parallel = nullptr;
  // With `parallel` on an even number of ranks, the CFG-parallel groups (RankGroup::apply_to): guided
  // pipeline cases run the conditional and unconditional calls on the two halves, as the engine's
  // planner would (pipeline/parallel_plan.h). `cfg_pair` null: Ulysses over all ranks.
  const model::SequenceParallel* cfg_branch = nullptr;  // this rank's half (null when one rank)
  const model::SequenceParallel* cfg_pair = nullptr;
  int cfg_branch_index = 0;
};

// Case folders under `path`: the folder itself if it holds a manifest.json, else its subfolders that
// do, sorted. Throws skyreels::Error(NotFound) if there are none.
std::vector<std::string> find_cases(const std::string& path);

// Runs one case folder and compares with its manifest's tolerance. Never throws for a broken case:
// problems become CaseStatus::Error with a message.
CaseResult run_case(const std::string& case_dir, const CheckOptions& options);

// Kinds the engine implements so far (e.g. "schedule", "unipc").
std::vector<std::string> implemented_kinds();

const char* to_string(CaseStatus status);

}  // namespace skyreels::conformance
