#include "test_support.h"

#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

#include <torch/cuda.h>

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

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

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

}  // namespace skyreels::test
