#pragma once

#include <string>
#include <vector>

namespace skyreels::cli {

// Exit codes: 0 success, 1 a check or generation failed, 2 bad command line or input.
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadInput = 2;

int run_check(const std::vector<std::string>& args);

}  // namespace skyreels::cli
