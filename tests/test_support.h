#pragma once

#include <filesystem>
#include <functional>
#include <string>

#include <c10/core/Device.h>

#include "skyreels/conformance.h"
#include "skyreels/error.h"

namespace skyreels::test {

// Relative L2 within which two computations of the same bf16 network count as equal: bf16 keeps
// 8 mantissa bits (2^-8 = 3.9e-3 relative), and GEMMs of other shapes round differently.
inline constexpr double kBf16NoiseRelL2 = 5e-3;
// A float32 result against float64 math (or float32 in another op order): float32 rounding only.
inline constexpr double kFloat32RelL2 = 1e-5;
// A bf16 result against float64 math: 2^-9 relative rounding of the output plus bf16 accumulation in
// small GEMMs (and, in fused attention, bf16 probabilities).
inline constexpr double kBf16VsFloat64RelL2 = 1e-2;

// tests/fixtures/reference, or one case folder inside it.
std::filesystem::path fixtures_dir();
std::filesystem::path fixture_case(const std::string& name);

// The device tests run on: CPU unless SKYREELS_TEST_DEVICE=cuda (and CUDA is available).
c10::Device test_device();

// Fixture-check options for the test device.
conformance::CheckOptions check_options();

// What `fn` throws: the skyreels::Error's message (and its code through `code`), or "" if it does not throw.
std::string error_text(const std::function<void()>& fn, ErrorCode* code = nullptr);

// A fresh, empty directory under the system temp dir, removed when the object goes away.
class TempDir {
public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
  std::filesystem::path path_;
};

// Writes bytes to a file (for crafted, possibly hostile, test inputs).
void write_file(const std::filesystem::path& path, const std::string& bytes);

// The demo model written once per test run into a folder of its own (its tokenizer takes a moment to
// train). Needs the SentencePiece plug-in.
const std::filesystem::path& demo_model();
std::string read_file(const std::filesystem::path& path);

}  // namespace skyreels::test
