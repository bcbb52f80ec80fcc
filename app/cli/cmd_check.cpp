// `skyreels-cli check`: runs reference fixture cases and prints kind, error and tolerance per case.

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "skyreels/conformance.h"
#include "skyreels/error.h"

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
  for (std::size_t i = 0; i < args.size(); ++i) {
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

  std::vector<std::string> cases;
  try {
    for (const auto& path : paths)
      for (auto& c : conformance::find_cases(path)) cases.push_back(std::move(c));
  } catch (const Error& e) {
    std::fprintf(stderr, "check: %s\n", e.what());
    return kExitBadInput;
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
  std::printf("\n%d passed, %d failed or not implemented, %d skipped (device %s)\n", passed, failed, skipped,
              options.device.c_str());
  return failed == 0 ? kExitOk : kExitFailed;
}

}  // namespace skyreels::cli
