// The GPU-memory planner (issue 24): its estimates against docs/performance.md's measured peaks, its
// choices for DF-1.3B and DF-14B at several budgets, and clear errors for budgets that cannot work.

#include <string>

#include <gtest/gtest.h>

#include "pipeline/memory_plan.h"
#include "skyreels/error.h"

namespace pipeline = skyreels::pipeline;
using skyreels::Error;
using skyreels::ErrorCode;

namespace {

constexpr double kGiB = 1024.0 * 1024.0 * 1024.0;

std::int64_t gib(double g) { return pipeline::gib_to_bytes(g); }
double as_gib(std::int64_t bytes) { return static_cast<double>(bytes) / kGiB; }

// 540P, 97 frames, one window, CFG on; decode calls of 4 latents (16 frames). Block bytes from the
// linear layers' shapes; the rest of the measured weights is outside the blocks.
pipeline::MemoryNeeds df_needs(int blocks, std::int64_t dim, std::int64_t ffn, double weights_gib, int bytes_per_weight) {
  pipeline::MemoryNeeds n;
  n.dit_blocks = blocks;
  n.block_bytes = (8 * dim * dim + 2 * dim * ffn) * bytes_per_weight;
  n.dit_other_bytes = gib(weights_gib) - blocks * n.block_bytes;
  n.dim = dim;
  n.ffn_dim = ffn;
  n.tokens_per_call = pipeline::dit_tokens(25, 544, 960);
  n.guidance = true;
  n.text_encoder_bytes = gib(10.58);
  n.decode_height = 544;
  n.decode_width = 960;
  n.decode_frames = 16;
  n.job_label = "544x960, 97 frames";
  return n;
}
pipeline::MemoryNeeds df14b() { return df_needs(40, 5120, 13824, 26.69, 2); }
pipeline::MemoryNeeds df14b_fp8() { return df_needs(40, 5120, 13824, 13.61, 1); }
pipeline::MemoryNeeds df1_3b() { return df_needs(30, 1536, 8960, 2.68, 2); }

std::string error_text(std::int64_t budget, const pipeline::MemoryNeeds& needs) {
  try {
    pipeline::plan_memory(budget, needs);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::BadArgument);
    return e.what();
  }
  ADD_FAILURE() << "no error for " << as_gib(budget) << " GiB";
  return {};
}

// Each DiT measurement the planner rests on (docs/performance.md, "GPU-memory budgets"): activations =
// peak allocated minus weights; the reserve = peak reserved minus the weights on the device (all of
// them, or with every block streamed those outside the blocks and two slots).
struct Measured {
  const char* what;
  pipeline::MemoryNeeds needs;
  int batch;
  double activations_gib;
  double peak_reserved_gib;  // 0: not measured
  bool streamed;             // every block streamed
};

double device_weights_gib(const pipeline::MemoryNeeds& n, bool streamed) {
  return as_gib(n.dit_other_bytes + (streamed ? 2 : n.dit_blocks) * n.block_bytes);
}

}  // namespace

TEST(MemoryPlan, EstimatesBoundTheMeasuredPeaks) {
  EXPECT_EQ(pipeline::dit_tokens(25, 544, 960), 51000);
  const Measured measured[] = {
      // H100, 2026-12-07, fused kernels, batch 1: resident, then every block streamed.
      {"DF-14B batch 1", df14b(), 1, 3.18, 30.58, false},
      {"DF-14B batch 1, 40 streamed", df14b(), 1, 3.18, 6.08, true},
      {"DF-1.3B batch 1", df1_3b(), 1, 1.31, 4.42, false},
      {"DF-1.3B batch 1, 30 streamed", df1_3b(), 1, 1.31, 1.74, true},
      // H200, 2026-12-01, batch 2 ("DiT call" rows).
      {"DF-14B batch 2", df14b(), 2, 31.67 - 26.69, 0, false},
      {"DF-14B float8 batch 2", df14b_fp8(), 2, 18.55 - 13.61, 0, false},
      {"DF-1.3B batch 2", df1_3b(), 2, 4.43 - 2.68, 0, false},
  };
  for (const auto& m : measured) {
    // Never below a measurement (a plan on an underestimate runs out of memory), and not far above.
    const double estimate = as_gib(pipeline::dit_activation_bytes(m.needs, m.batch));
    EXPECT_GE(estimate, m.activations_gib - 0.005) << m.what;
    EXPECT_LE(estimate, m.activations_gib * 1.15) << m.what;
    if (m.peak_reserved_gib > 0) {
      EXPECT_GE(as_gib(pipeline::dit_call_bytes(m.needs, m.batch)),
                m.peak_reserved_gib - device_weights_gib(m.needs, m.streamed))
          << m.what;
    }
  }
  // Batch 1, what tight budgets plan with, is fitted exactly.
  EXPECT_NEAR(as_gib(pipeline::dit_activation_bytes(df14b(), 1)), 3.18, 0.01);
  EXPECT_NEAR(as_gib(pipeline::dit_activation_bytes(df1_3b(), 1)), 1.31, 0.01);
  // The chunks cut the batch's rows together: above the chunk the FFN's share does not double with
  // the batch, below it everything does.
  auto small = df14b();
  small.tokens_per_call = 4000;
  EXPECT_LT(pipeline::dit_activation_bytes(df14b(), 2), 2 * pipeline::dit_activation_bytes(df14b(), 1));
  EXPECT_NEAR(static_cast<double>(pipeline::dit_activation_bytes(small, 2)),
              2.0 * static_cast<double>(pipeline::dit_activation_bytes(small, 1)), 2.0);
  // VAE decode at 540P: one 97-frame call, 16-frame calls, tiled 34/8.
  EXPECT_NEAR(as_gib(pipeline::vae_decode_bytes(544, 960, 97, 0)), 4.86, 0.02);
  EXPECT_NEAR(as_gib(pipeline::vae_decode_bytes(544, 960, 16, 0)), 4.13, 0.02);
  EXPECT_NEAR(as_gib(pipeline::vae_decode_bytes(544, 960, 97, 34)), 1.86, 0.02);
}

TEST(MemoryPlan, AmpleBudgetKeepsEverythingResident) {
  for (const auto& needs : {df14b(), df1_3b()}) {
    const auto plan = pipeline::plan_memory(gib(80), needs);
    EXPECT_EQ(plan.resident_blocks, needs.dit_blocks);
    EXPECT_EQ(plan.streamed_blocks, 0);
    EXPECT_EQ(plan.stream_slots, 0);
    EXPECT_EQ(plan.cfg, pipeline::CfgPlacement::Batched);
    EXPECT_EQ(plan.text, pipeline::TextPlacement::GpuThenFree);
    EXPECT_FALSE(plan.vae_tiled());
    EXPECT_FALSE(plan.park_dit_for_last_decode);
    EXPECT_LE(plan.peak, gib(80));
    EXPECT_NE(plan.description.find("of 80.0 GiB"), std::string::npos) << plan.description;
  }
}

TEST(MemoryPlan, Df14bBf16In8GiBStreamsMostBlocksAndSplitsCfg) {
  const auto plan = pipeline::plan_memory(gib(8), df14b());
  EXPECT_GT(plan.streamed_blocks, plan.resident_blocks);
  EXPECT_EQ(plan.resident_blocks + plan.streamed_blocks, 40);
  EXPECT_EQ(plan.stream_slots, 2);
  EXPECT_EQ(plan.cfg, pipeline::CfgPlacement::Split);
  EXPECT_EQ(plan.text, pipeline::TextPlacement::Cpu);
  EXPECT_LE(plan.peak, gib(8));
  // Measured (H100, 2026-12-07): every block streamed took 6.08 GiB reserved, and each resident block
  // adds its 0.65 GiB, so at most 2 may stay (36 streamed ran out of memory).
  EXPECT_LE(plan.resident_blocks, 2);
  EXPECT_NE(plan.description.find("streamed through 2 slots; CFG as two calls; text encoder on the CPU"),
            std::string::npos)
      << plan.description;
}

TEST(MemoryPlan, Df14bFloat8In6GiB) {
  const auto plan = pipeline::plan_memory(gib(6), df14b_fp8());
  EXPECT_GT(plan.streamed_blocks, 0);
  EXPECT_EQ(plan.cfg, pipeline::CfgPlacement::Split);
  EXPECT_LE(plan.peak, gib(6));
  // bf16 cannot: every block streamed measured 6.08 GiB reserved (H100, 2026-12-07).
  EXPECT_THROW(pipeline::plan_memory(gib(6), df14b()), Error);
  // float8 blocks are half the bytes: more of them stay than bf16's at the same budget.
  EXPECT_GT(pipeline::plan_memory(gib(8), df14b_fp8()).resident_blocks,
            pipeline::plan_memory(gib(8), df14b()).resident_blocks);
}

TEST(MemoryPlan, Df1_3bIn3GiBTilesTheVae) {
  const auto plan = pipeline::plan_memory(gib(3), df1_3b());
  EXPECT_GT(plan.resident_blocks, 0);
  EXPECT_TRUE(plan.vae_tiled());  // 4.13 GiB untiled cannot fit
  EXPECT_EQ(plan.text, pipeline::TextPlacement::Cpu);
  EXPECT_LE(plan.peak, gib(3));
  // Measured (H100, 2026-12-07): every block streamed took 1.74 GiB reserved, each resident block adds
  // 0.087 GiB, so at most 14 may stay (16 resident ran out of memory).
  EXPECT_LE(plan.resident_blocks, 14);
}

TEST(MemoryPlan, NoGuidanceMeansNoCfgAndCachedPromptsNoText) {
  auto needs = df1_3b();
  needs.guidance = false;
  needs.text_encoder_bytes = 0;
  const auto plan = pipeline::plan_memory(gib(24), needs);
  EXPECT_EQ(plan.cfg, pipeline::CfgPlacement::None);
  EXPECT_EQ(plan.text, pipeline::TextPlacement::None);
  EXPECT_NE(plan.description.find("no CFG; prompts cached"), std::string::npos) << plan.description;
}

TEST(MemoryPlan, MoreBudgetNeverKeepsFewerBlocksAndPeaksStayWithin) {
  for (const auto& needs : {df14b(), df14b_fp8(), df1_3b()}) {
    int last_resident = -1;
    for (double g = 2.0; g <= 48.0; g += 0.25) {
      pipeline::MemoryPlan plan;
      try {
        plan = pipeline::plan_memory(gib(g), needs);
      } catch (const Error&) {
        ASSERT_EQ(last_resident, -1) << "a budget of " << g << " GiB failed after a smaller one worked";
        continue;
      }
      EXPECT_GE(plan.resident_blocks, last_resident) << g << " GiB";
      EXPECT_LE(plan.peak, gib(g)) << g << " GiB: " << plan.description;
      EXPECT_LE(plan.dit_peak, plan.peak);
      EXPECT_LE(plan.decode_peak, plan.peak);
      EXPECT_LE(plan.text_peak, plan.peak);
      last_resident = plan.resident_blocks;
    }
    EXPECT_EQ(last_resident, needs.dit_blocks);
  }
}

TEST(MemoryPlan, DecodesBetweenRowsShareTheDeviceWithTheDit) {
  auto needs = df1_3b();
  needs.decodes_between_rows = true;
  const auto plan = pipeline::plan_memory(gib(6), needs);
  EXPECT_LE(plan.peak, gib(6));
  EXPECT_GE(plan.decode_peak, pipeline::vae_decode_bytes(544, 960, 16, plan.vae_tile));
}

TEST(MemoryPlan, TooSmallForOneBlockIsAClearError) {
  const std::string text = error_text(gib(1.5), df14b());
  EXPECT_NE(text.find("the budget 1.50 GiB cannot hold"), std::string::npos) << text;
  EXPECT_NE(text.find("two block slots of 0.65 GiB"), std::string::npos) << text;
  EXPECT_NE(text.find("activations"), std::string::npos) << text;
  EXPECT_NE(text.find("544x960, 97 frames"), std::string::npos) << text;
  EXPECT_NE(text.find("raise it to at least"), std::string::npos) << text;
  // The budget it names is enough.
  const auto at = text.find("at least ") + 9;
  const double named = std::stod(text.substr(at));
  EXPECT_NO_THROW(pipeline::plan_memory(gib(named + 0.01), df14b()));
}

TEST(MemoryPlan, BadInputsAreErrors) {
  EXPECT_THROW(pipeline::plan_memory(0, df1_3b()), Error);
  auto needs = df1_3b();
  needs.dit_blocks = 0;
  EXPECT_THROW(pipeline::plan_memory(gib(8), needs), Error);
}
