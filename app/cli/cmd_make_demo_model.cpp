// `skyreels-cli make-demo-model DIR [--seed N]`: writes the embedded default model (the build runs it).

#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "skyreels/engine.h"

namespace skyreels::cli {

int run_make_demo_model(const std::vector<std::string>& args) {
  std::string dir;
  unsigned long long seed = 0;
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--seed" && i + 1 < args.size()) {
      try {
        seed = std::stoull(args[++i]);
      } catch (const std::exception&) {
        std::fprintf(stderr, "make-demo-model: --seed needs a whole number\n");
        return kExitBadInput;
      }
    } else if (!args[i].empty() && args[i][0] != '-' && dir.empty()) {
      dir = args[i];
    } else {
      std::fprintf(stderr, "make-demo-model: unexpected argument \"%s\"\n", args[i].c_str());
      return kExitBadInput;
    }
  }
  if (dir.empty()) {
    std::fprintf(stderr, "usage: skyreels-cli make-demo-model DIR [--seed N]\n");
    return kExitBadInput;
  }
  try {
    write_demo_model(dir, seed);
  } catch (const Error& e) {
    std::fprintf(stderr, "make-demo-model: %s\n", e.what());
    return e.code() == ErrorCode::Runtime ? kExitFailed : kExitBadInput;
  }
  return kExitOk;
}

}  // namespace skyreels::cli
