// `skyreels-cli check`: runs reference fixture cases and prints kind, error and tolerance per case.

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "commands.h"
#include "skyreels/conformance.h"
#include "skyreels/error.h"
#include "skyreels/ranks.h"

namespace skyreels::cli {
namespace {

void print_result(const conformance::CaseResult& r) {
  std::printf("%-5s %-22s kind=%-9s", conformance::to_string(r.status), r.name.c_str(), r.kind.c_str());
  if (!r.message.empty()) std::printf(" %s", r.message.c_str());
  std::printf("\n");
  for (const auto& m : r.metrics)
    std::printf("        %-4s %-66s error=%-11.4g tolerance=%.4g\n", m.passed ? "ok" : "FAIL", m.name.c_str(),
                m.value, m.tolerance);
}

}  // namespace

int run_check(const std::vector<std::string>& args) {
  conformance::CheckOptions options;
  std::vector<std::string> paths;
  int ranks = 1;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--ranks" && i + 1 < args.size()) {
      ranks = std::atoi(args[++i].c_str());
      if (ranks < 1 || ranks > 64) {
        std::fprintf(stderr, "check: --ranks must be between 1 and 64\n");
        return kExitBadInput;
      }
      continue;
    }
    if (args[i] == "--device" && i + 1 < args.size()) {
      options.device = args[++i];
      if (options.device != "cpu" && options.device != "cuda") {
        std::fprintf(stderr, "check: --device must be cpu or cuda, got \"%s\"\n", options.device.c_str());
        return kExitBadInput;
      }
    } else if (!args[i].empty() && args[i][0] == '-') {
      std::fprintf(stderr, "check: unknown option \"%s\"\n", args[i].c_str());
      return kExitBadInput;
    } else {
      paths.push_back(args[i]);
    }
  }
  if (paths.empty()) {
    std::fprintf(stderr, "check: give at least one fixture case folder (or a folder of cases)\n");
    return kExitBadInput;
  }

  // Several ranks: this process starts them (same arguments) and waits; each rank runs the DiT and
  // pipeline cases with the tokens split across ranks, and rank 0 reports.
  if (ranks > 1 && !launched_as_rank()) {
    try {
      std::vector<std::string> rank_args{"check"};
      rank_args.insert(rank_args.end(), args.begin(), args.end());
      return launch_ranks(rank_args, ranks, /*one_gpu_each=*/options.device == "cuda");
    } catch (const Error& e) {
      std::fprintf(stderr, "check: %s\n", e.what());
      return kExitFailed;
    }
  }
  std::vector<std::string> cases;
  try {
    for (const auto& path : paths)
      for (auto& c : conformance::find_cases(path)) cases.push_back(std::move(c));
  } catch (const Error& e) {
    std::fprintf(stderr, "check: %s\n", e.what());
    return kExitBadInput;
  }

  std::unique_ptr<RankGroup> group;
  if (launched_as_rank()) {
    try {
      // Each rank sees its own GPU as cuda:0 (the launcher sets CUDA_VISIBLE_DEVICES).
      group = std::make_unique<RankGroup>(options.device);
    } catch (const Error& e) {
      std::fprintf(stderr, "check: %s\n", e.what());
      return e.code() == ErrorCode::Unsupported ? kExitBadInput : kExitFailed;
    }
    group->apply_to(options);
    // Other ranks only take part: rank 0 holds the results.
    if (group->rank() != 0 && !std::freopen("/dev/null", "w", stdout)) return kExitFailed;
  }

  int passed = 0, failed = 0, skipped = 0;
  for (const auto& case_dir : cases) {
    const auto result = conformance::run_case(case_dir, options);
    print_result(result);
    std::fflush(stdout);
    if (result.status == conformance::CaseStatus::Passed) ++passed;
    else if (result.status == conformance::CaseStatus::NotACase) ++skipped;
    else ++failed;
  }
  std::printf("\n%d passed, %d failed or not implemented, %d skipped (device %s%s)\n", passed, failed, skipped,
              options.device.c_str(), group ? (", " + std::to_string(group->size()) + " ranks").c_str() : "");
  if (group && group->rank() != 0) return kExitOk;
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace skyreels::cli
