#include <filesystem>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "skyreels/conformance.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace conf = skyreels::conformance;
namespace fs = std::filesystem;
using skyreels::test::fixture_case;
using skyreels::test::TempDir;

namespace {

void expect_passed(const std::string& name) {
  const auto r = conf::run_case(fixture_case(name).string(), skyreels::test::check_options());
  EXPECT_EQ(r.status, conf::CaseStatus::Passed) << name << ": " << r.message;
  for (const auto& m : r.metrics) EXPECT_TRUE(m.passed) << name << ": " << m.name << " = " << m.value;
}

}  // namespace

TEST(FixtureHarness, SchedulePasses) { expect_passed("schedule"); }
TEST(FixtureHarness, UniPCBf16N30Passes) { expect_passed("unipc_n30_s8_bf16"); }
TEST(FixtureHarness, UniPCFp32N10Passes) { expect_passed("unipc_n10_s3_fp32"); }
TEST(FixtureHarness, UniPCBf16N4Passes) { expect_passed("unipc_n4_s8_bf16"); }

TEST(FixtureHarness, FindsCasesAndSkipsSharedWeights) {
  const auto cases = conf::find_cases(skyreels::test::fixtures_dir().string());
  EXPECT_GE(cases.size(), 15u);
  EXPECT_TRUE(std::is_sorted(cases.begin(), cases.end()));
  const auto models = conf::run_case(fixture_case("pipeline_models").string(), skyreels::test::check_options());
  EXPECT_EQ(models.status, conf::CaseStatus::NotACase);
  EXPECT_EQ(conf::find_cases(fixture_case("schedule").string()).size(), 1u);
  TempDir empty;
  EXPECT_THROW(conf::find_cases(empty.path().string()), skyreels::Error);
}

TEST(FixtureHarness, UnknownKindIsNotImplemented) {
  TempDir dir;
  skyreels::test::write_file(dir / "manifest.json", R"({"kind": "hologram"})");
  const auto r = conf::run_case(dir.path().string(), skyreels::test::check_options());
  EXPECT_EQ(r.status, conf::CaseStatus::NotImplemented);
  EXPECT_NE(r.message.find("hologram"), std::string::npos);
}

TEST(FixtureHarness, BrokenCaseIsAnErrorNotACrash) {
  TempDir dir;
  skyreels::test::write_file(dir / "manifest.json", R"({"kind": "unipc", "config": {"steps": 4, "shift": 8.0},)");
  EXPECT_EQ(conf::run_case(dir.path().string(), skyreels::test::check_options()).status, conf::CaseStatus::Error);
  skyreels::test::write_file(dir / "manifest.json",
                             R"({"kind": "unipc", "config": {"steps": 4, "shift": 8.0}, "tolerance": {"max": 0.01}})");
  const auto r = conf::run_case(dir.path().string(), skyreels::test::check_options());  // no tensors.safetensors
  EXPECT_EQ(r.status, conf::CaseStatus::Error);
  EXPECT_NE(r.message.find("tensors.safetensors"), std::string::npos) << r.message;
}

// The harness must be able to fail: perturb one expected sample of a real case by 2 %.
TEST(FixtureHarness, TamperedExpectationFails) {
  TempDir dir;
  const auto source = fixture_case("unipc_n4_s8_bf16");
  fs::copy_file(source / "manifest.json", dir / "manifest.json");
  skyreels::io::SafetensorsFile original((source / "tensors.safetensors").string());
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& e : original.entries()) {
    auto t = original.tensor(e.name).clone();
    if (e.name == "out.samples") t[2] = (t[2].to(at::kFloat) * 1.02f).to(t.scalar_type());
    tensors.emplace_back(e.name, t);
  }
  skyreels::io::write_safetensors((dir / "tensors.safetensors").string(), tensors);
  const auto r = conf::run_case(dir.path().string(), skyreels::test::check_options());
  EXPECT_EQ(r.status, conf::CaseStatus::Failed);
}
