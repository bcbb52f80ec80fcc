#include "test_support.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <ftw.h>
#include <sys/stat.h>
#include <torch/cuda.h>

#include "pipeline/demo_model.h"

namespace skyreels::test {

std::filesystem::path fixtures_dir() { return SKYREELS_FIXTURES_DIR; }

std::filesystem::path fixture_case(const std::string& name) { return fixtures_dir() / name; }

c10::Device test_device() {
  const char* wanted = std::getenv("SKYREELS_TEST_DEVICE");
  if (wanted && std::string(wanted) == "cuda") {
    if (!torch::cuda::is_available()) throw std::runtime_error("SKYREELS_TEST_DEVICE=cuda but CUDA is not available");
    return c10::Device(c10::kCUDA, 0);
  }
  return c10::Device(c10::kCPU);
}

TempDir::TempDir() {
  std::random_device rd;
  auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto candidate = base / ("skyreels-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(candidate)) {
      path_ = candidate;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary directory");
}

// Not std::filesystem::remove_all: PyTorch 2.x's libtorch.so exports its own copy of that symbol,
// which crashes when it interposes on libstdc++'s (seen with PyTorch 2.11 on Ubuntu 24.04).
static int remove_entry(const char* path, const struct stat*, int, struct FTW*) { return ::remove(path); }

TempDir::~TempDir() { ::nftw(path_.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

void write_file(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path.string());
  std::ostringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

conformance::CheckOptions check_options() {
  conformance::CheckOptions o;
  o.device = test_device().is_cuda() ? "cuda" : "cpu";
  return o;
}

std::string error_text(const std::function<void()>& fn, ErrorCode* code) {
  try {
    fn();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

const std::filesystem::path& demo_model() {
  static TempDir dir;
  static const std::filesystem::path path = [] {
    pipeline::write_demo_model(dir / "demo", 7);
    return dir / "demo";
  }();
  return path;
}

}  // namespace skyreels::test
