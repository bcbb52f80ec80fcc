// skyreels-cli: headless entry point of the engine.

#include <cstdio>
#include <string>
#include <vector>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "commands.h"
#include "skyreels/cpu_threads.h"
#include "skyreels/version.h"

namespace {

void print_usage() {
  std::fprintf(stderr,
               "usage: skyreels-cli <command> [options]\n"
               "\n"
               "commands:\n"
               "  generate [options]                 make a video (generate --help lists the options)\n"
               "  check [--device cpu|cuda] DIR...   run reference fixture cases and compare with their tolerances\n"
               "  make-demo-model DIR [--seed N]     write the tiny random demo model into DIR\n"
               "  models list|download [NAME]        find model folders (complete or what is missing); download\n"
               "                                     an official checkpoint (models --help lists the options)\n"
               "  --version                          print the engine version\n"
               "\n"
               "Exit codes: 0 ok, 1 failed, 2 bad command line or input, 130 cancelled.\n");
}

}  // namespace

int main(int argc, char** argv) {
  // Logs go to stderr so stdout stays clean for results.
  spdlog::set_default_logger(spdlog::stderr_color_mt("skyreels"));
  skyreels::use_all_cpu_cores();

  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "-h" || args[0] == "--help" || args[0] == "help") {
    print_usage();
    return args.empty() ? skyreels::cli::kExitBadInput : skyreels::cli::kExitOk;
  }
  if (args[0] == "--version" || args[0] == "version") {
    std::printf("skyreels-cli %s\n", skyreels::kVersion);
    return skyreels::cli::kExitOk;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "check") return skyreels::cli::run_check(args);
  if (command == "generate") return skyreels::cli::run_generate(args);
  if (command == "make-demo-model") return skyreels::cli::run_make_demo_model(args);
  if (command == "models") return skyreels::cli::run_models(args);

  std::fprintf(stderr, "skyreels-cli: unknown command \"%s\"\n\n", command.c_str());
  print_usage();
  return skyreels::cli::kExitBadInput;
}
