// fake_hub_server: the tests' fake Hugging Face Hub (fake_hub.h) as a program, serving the tiny model as
// Test/Tiny-DF, for the command line's tests. Writes its endpoint to --endpoint-file, then serves until
// SIGTERM/SIGINT (or 300 s).
//   fake_hub_server --endpoint-file F [--corrupt PATH] [--cut PATH:BYTES]

#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "core/hub/fake_hub.h"
#include "core/hub/tiny_model_files.h"

namespace {
volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }
}  // namespace

int main(int argc, char** argv) {
  std::string endpoint_file, corrupt, cut;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--endpoint-file") endpoint_file = argv[i + 1];
    else if (flag == "--corrupt") corrupt = argv[i + 1];
    else if (flag == "--cut") cut = argv[i + 1];
  }
  if (endpoint_file.empty()) {
    std::fprintf(stderr, "usage: fake_hub_server --endpoint-file F [--corrupt PATH] [--cut PATH:BYTES]\n");
    return 2;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  skyreels::test::FakeHub hub({{"Test/Tiny-DF", "0123456789abcdef0123456789abcdef01234567", skyreels::test::tiny_model_files()}});
  if (!corrupt.empty()) hub.corrupt(corrupt);
  if (const auto colon = cut.find(':'); colon != std::string::npos)
    hub.cut_after(cut.substr(0, colon), std::stoull(cut.substr(colon + 1)));
  {
    std::ofstream out(endpoint_file + ".tmp");
    out << hub.endpoint() << "\n";
  }
  std::rename((endpoint_file + ".tmp").c_str(), endpoint_file.c_str());
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(300);
  while (!g_stop && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  return 0;
}
