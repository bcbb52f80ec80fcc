#pragma once

#include <string>
#include <vector>

namespace skyreels::cli {

// Exit codes: 0 success, 1 a check or generation failed, 2 bad command line or input, 130 cancelled
// (Ctrl-C; the finished part of the video is written).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailed = 1;
inline constexpr int kExitBadInput = 2;
inline constexpr int kExitCancelled = 130;

int run_check(const std::vector<std::string>& args);
int run_generate(const std::vector<std::string>& args);
int run_make_demo_model(const std::vector<std::string>& args);
int run_models(const std::vector<std::string>& args);

}  // namespace skyreels::cli
