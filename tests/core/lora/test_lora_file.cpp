// LoRA files in each format found in the wild (../shared/spec/product-anchors.md, "LoRA key formats"), written as
// real .safetensors files; the expected official names are written out by hand from the DiT's registered names
// (core/model/wan_dit.cpp), not taken from the code under test.

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>

#include "io/safetensors.h"
#include "lora/lora_file.h"
#include "test_support.h"

namespace io = skyreels::io;
namespace lora = skyreels::lora;
using skyreels::ErrorCode;
using skyreels::test::error_text;
using skyreels::test::TempDir;

namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;
using Strings = std::vector<std::string>;

std::string write(const TempDir& dir, const std::string& name, const Tensors& tensors) {
  const auto path = (dir / name).string();
  io::write_safetensors(path, tensors);
  return path;
}

at::Tensor mat(std::int64_t rows, std::int64_t cols) { return at::randn({rows, cols}); }
at::Tensor scalar(double v) { return at::scalar_tensor(v, at::kFloat); }

// A low-rank pair (+ optional alpha) of `prefix` + module with the given suffix spelling.
void add_pair(Tensors& t, const std::string& module, std::int64_t out, std::int64_t in, std::int64_t rank,
              const std::string& down = ".lora_down.weight", const std::string& up = ".lora_up.weight") {
  t.emplace_back(module + down, mat(rank, in));
  t.emplace_back(module + up, mat(out, rank));
}

const lora::LoraEntry& entry_of(const lora::LoraFile& f, const std::string& target, lora::DeltaKind kind) {
  for (const auto& e : f.entries)
    if (e.target == target && e.kind == kind) return e;
  ADD_FAILURE() << "no entry for " << target << " (" << lora::to_string(kind) << ")";
  static const lora::LoraEntry none;
  return none;
}

Strings targets(const lora::LoraFile& f) {
  Strings out;
  for (const auto& e : f.entries) out.push_back(e.target);
  return out;
}

// Expects `fn` to throw a skyreels::Error of `code` whose message names the file and every one of `keys`.
void expect_error(const std::function<void()>& fn, ErrorCode code, const std::string& path, const Strings& keys) {
  ErrorCode got = ErrorCode::Invalid;
  const auto text = error_text(fn, &got);
  ASSERT_FALSE(text.empty()) << "no skyreels::Error thrown";
  EXPECT_EQ(got, code) << text;
  EXPECT_NE(text.find(path), std::string::npos) << text;
  for (const auto& key : keys) EXPECT_NE(text.find(key), std::string::npos) << "'" << key << "' not in: " << text;
}

}  // namespace

TEST(LoraFile, WanNativeLoraDownUpWithAlpha) {
  TempDir dir;
  Tensors t;
  add_pair(t, "diffusion_model.blocks.0.self_attn.q", 8, 8, 4);
  t.emplace_back("diffusion_model.blocks.0.self_attn.q.alpha", scalar(8.0));
  add_pair(t, "diffusion_model.blocks.12.cross_attn.o", 8, 8, 2);  // no alpha: alpha = rank
  add_pair(t, "diffusion_model.blocks.3.ffn.2", 8, 16, 3);
  t.emplace_back("diffusion_model.blocks.3.ffn.2.alpha", scalar(1.5));
  add_pair(t, "diffusion_model.text_embedding.0", 8, 6, 2);
  add_pair(t, "diffusion_model.time_embedding.2", 8, 8, 2);
  add_pair(t, "diffusion_model.time_projection.1", 48, 8, 2);
  add_pair(t, "diffusion_model.head.head", 4, 8, 1);
  // image conditioning (I2V) and keys that name nothing of ours
  add_pair(t, "diffusion_model.blocks.0.cross_attn.k_img", 8, 8, 2);
  t.emplace_back("diffusion_model.blocks.0.cross_attn.norm_k_img.diff", at::ones({8}));
  t.emplace_back("diffusion_model.img_emb.proj.1.lora_down.weight", mat(2, 8));
  t.emplace_back("diffusion_model.blocks.0.self_attn.qq.lora_down.weight", mat(2, 8));
  t.emplace_back("text_encoder.layer.0.lora_down.weight", mat(2, 8));
  const auto path = write(dir, "wan.safetensors", t);

  const auto f = lora::read_lora_file(path);
  EXPECT_EQ(f.path, path);
  EXPECT_EQ(f.format, lora::LoraFormat::WanNative);
  EXPECT_EQ(targets(f), (Strings{"blocks.0.self_attn.q.weight", "blocks.12.cross_attn.o.weight", "blocks.3.ffn.2.weight",
                                 "head.head.weight", "text_embedding.0.weight", "time_embedding.2.weight",
                                 "time_projection.1.weight"}));
  const auto& q = entry_of(f, "blocks.0.self_attn.q.weight", lora::DeltaKind::LowRank);
  EXPECT_EQ(q.rank, 4);
  EXPECT_DOUBLE_EQ(q.alpha, 8.0);
  EXPECT_EQ(q.up_key, "diffusion_model.blocks.0.self_attn.q.lora_up.weight");
  EXPECT_EQ(q.down_key, "diffusion_model.blocks.0.self_attn.q.lora_down.weight");
  EXPECT_EQ(q.alpha_key, "diffusion_model.blocks.0.self_attn.q.alpha");
  EXPECT_EQ(q.source_keys(), (Strings{"diffusion_model.blocks.0.self_attn.q.lora_up.weight",
                                      "diffusion_model.blocks.0.self_attn.q.lora_down.weight",
                                      "diffusion_model.blocks.0.self_attn.q.alpha"}));
  EXPECT_EQ(q.up_shape, (std::vector<std::int64_t>{8, 4}));
  EXPECT_EQ(q.down_shape, (std::vector<std::int64_t>{4, 8}));
  const auto& o = entry_of(f, "blocks.12.cross_attn.o.weight", lora::DeltaKind::LowRank);
  EXPECT_EQ(o.rank, 2);
  EXPECT_DOUBLE_EQ(o.alpha, 2.0);
  EXPECT_EQ(o.alpha_key, "");
  const auto& ffn = entry_of(f, "blocks.3.ffn.2.weight", lora::DeltaKind::LowRank);
  EXPECT_EQ(ffn.rank, 3);
  EXPECT_DOUBLE_EQ(ffn.alpha, 1.5);
  EXPECT_EQ(entry_of(f, "head.head.weight", lora::DeltaKind::LowRank).rank, 1);

  EXPECT_EQ(f.skipped_image_keys, (Strings{"diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight",
                                           "diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight",
                                           "diffusion_model.blocks.0.cross_attn.norm_k_img.diff",
                                           "diffusion_model.img_emb.proj.1.lora_down.weight"}));
  EXPECT_EQ(f.unmatched_keys,
            (Strings{"diffusion_model.blocks.0.self_attn.qq.lora_down.weight", "text_encoder.layer.0.lora_down.weight"}));
}

TEST(LoraFile, WanNativePrefixesAndLoraAB) {
  TempDir dir;
  {
    Tensors t;
    add_pair(t, "model.diffusion_model.blocks.7.self_attn.v", 8, 8, 4, ".lora_A.weight", ".lora_B.weight");
    t.emplace_back("model.diffusion_model.blocks.7.self_attn.v.alpha", scalar(16.0));
    add_pair(t, "model.diffusion_model.blocks.7.ffn.0", 16, 8, 4, ".lora_A.weight", ".lora_B.weight");
    const auto f = lora::read_lora_file(write(dir, "comfy.safetensors", t));
    EXPECT_EQ(f.format, lora::LoraFormat::WanNative);
    EXPECT_EQ(targets(f), (Strings{"blocks.7.ffn.0.weight", "blocks.7.self_attn.v.weight"}));
    const auto& v = entry_of(f, "blocks.7.self_attn.v.weight", lora::DeltaKind::LowRank);
    EXPECT_DOUBLE_EQ(v.alpha, 16.0);
    EXPECT_EQ(v.up_key, "model.diffusion_model.blocks.7.self_attn.v.lora_B.weight");
    EXPECT_EQ(v.down_key, "model.diffusion_model.blocks.7.self_attn.v.lora_A.weight");
    EXPECT_TRUE(f.unmatched_keys.empty());
  }
  {
    Tensors t;
    add_pair(t, "blocks.2.cross_attn.k", 8, 8, 5);
    const auto f = lora::read_lora_file(write(dir, "bare.safetensors", t));
    EXPECT_EQ(f.format, lora::LoraFormat::WanNative);
    EXPECT_EQ(targets(f), (Strings{"blocks.2.cross_attn.k.weight"}));
    EXPECT_EQ(f.entries[0].rank, 5);
    EXPECT_DOUBLE_EQ(f.entries[0].alpha, 5.0);
  }
}

TEST(LoraFile, FullRankDiffsOfDistillationLoras) {
  TempDir dir;
  Tensors t;
  t.emplace_back("diffusion_model.blocks.0.self_attn.q.diff", mat(8, 8));
  t.emplace_back("diffusion_model.blocks.0.self_attn.q.diff_b", at::randn({8}));
  t.emplace_back("diffusion_model.blocks.0.norm3.diff", at::randn({8}));
  t.emplace_back("diffusion_model.blocks.0.diff_m", at::randn({1, 6, 8}));
  t.emplace_back("diffusion_model.blocks.1.modulation.diff", at::randn({1, 6, 8}));
  t.emplace_back("diffusion_model.head.diff_m", at::randn({1, 2, 8}));
  add_pair(t, "diffusion_model.blocks.1.self_attn.k", 8, 8, 2);  // LoRA and diffs in one file
  const auto path = write(dir, "distill.safetensors", t);

  const auto f = lora::read_lora_file(path);
  EXPECT_EQ(f.format, lora::LoraFormat::WanNative);
  EXPECT_EQ(f.entries.size(), 7u);
  EXPECT_EQ(entry_of(f, "blocks.0.self_attn.q.weight", lora::DeltaKind::WeightDiff).diff_key,
            "diffusion_model.blocks.0.self_attn.q.diff");
  EXPECT_EQ(entry_of(f, "blocks.0.self_attn.q.bias", lora::DeltaKind::BiasDiff).diff_key,
            "diffusion_model.blocks.0.self_attn.q.diff_b");
  EXPECT_EQ(entry_of(f, "blocks.0.norm3.weight", lora::DeltaKind::WeightDiff).diff_shape, (std::vector<std::int64_t>{8}));
  EXPECT_EQ(entry_of(f, "blocks.0.modulation", lora::DeltaKind::ModulationDiff).diff_key, "diffusion_model.blocks.0.diff_m");
  EXPECT_EQ(entry_of(f, "blocks.1.modulation", lora::DeltaKind::ModulationDiff).diff_key,
            "diffusion_model.blocks.1.modulation.diff");
  EXPECT_EQ(entry_of(f, "head.modulation", lora::DeltaKind::ModulationDiff).diff_shape,
            (std::vector<std::int64_t>{1, 2, 8}));
  EXPECT_EQ(entry_of(f, "blocks.1.self_attn.k.weight", lora::DeltaKind::LowRank).rank, 2);
  const auto& diff = entry_of(f, "blocks.0.self_attn.q.weight", lora::DeltaKind::WeightDiff);
  EXPECT_EQ(diff.source_keys(), (Strings{"diffusion_model.blocks.0.self_attn.q.diff"}));
  EXPECT_EQ(diff.rank, 0);
}

TEST(LoraFile, KohyaAndMusubi) {
  TempDir dir;
  Tensors t;
  add_pair(t, "lora_unet_blocks_0_self_attn_q", 8, 8, 4);
  t.emplace_back("lora_unet_blocks_0_self_attn_q.alpha", scalar(2.0));
  add_pair(t, "lora_unet_blocks_11_ffn_0", 16, 8, 4);
  add_pair(t, "lora_unet_blocks_11_cross_attn_norm_k", 8, 8, 1);  // hypothetical, but a module of ours
  add_pair(t, "lora_unet_text_embedding_2", 8, 8, 2);
  add_pair(t, "lora_unet_time_projection_1", 48, 8, 2);
  add_pair(t, "lora_unet_head_head", 4, 8, 2);
  add_pair(t, "lora_unet__blocks_2_cross_attn_v", 8, 8, 3);  // VideoX-Fun's double underscore
  t.emplace_back("lora_unet__blocks_2_cross_attn_v.alpha", scalar(6.0));
  add_pair(t, "lora_unet_blocks_0_cross_attn_k_img", 8, 8, 2);
  t.emplace_back("lora_te_text_model_encoder_layers_0_q.lora_down.weight", mat(2, 8));
  t.emplace_back("lora_unet_blocks_0_self_attn_x.lora_down.weight", mat(2, 8));
  const auto f = lora::read_lora_file(write(dir, "kohya.safetensors", t));

  EXPECT_EQ(f.format, lora::LoraFormat::Kohya);
  EXPECT_EQ(targets(f), (Strings{"blocks.0.self_attn.q.weight", "blocks.11.cross_attn.norm_k.weight",
                                 "blocks.11.ffn.0.weight", "blocks.2.cross_attn.v.weight", "head.head.weight",
                                 "text_embedding.2.weight", "time_projection.1.weight"}));
  const auto& q = entry_of(f, "blocks.0.self_attn.q.weight", lora::DeltaKind::LowRank);
  EXPECT_EQ(q.rank, 4);
  EXPECT_DOUBLE_EQ(q.alpha, 2.0);
  EXPECT_EQ(q.alpha_key, "lora_unet_blocks_0_self_attn_q.alpha");
  const auto& v = entry_of(f, "blocks.2.cross_attn.v.weight", lora::DeltaKind::LowRank);
  EXPECT_EQ(v.rank, 3);
  EXPECT_DOUBLE_EQ(v.alpha, 6.0);
  EXPECT_EQ(v.down_key, "lora_unet__blocks_2_cross_attn_v.lora_down.weight");
  EXPECT_DOUBLE_EQ(entry_of(f, "blocks.11.ffn.0.weight", lora::DeltaKind::LowRank).alpha, 4.0);
  EXPECT_EQ(f.skipped_image_keys, (Strings{"lora_unet_blocks_0_cross_attn_k_img.lora_down.weight",
                                           "lora_unet_blocks_0_cross_attn_k_img.lora_up.weight"}));
  EXPECT_EQ(f.unmatched_keys, (Strings{"lora_te_text_model_encoder_layers_0_q.lora_down.weight",
                                       "lora_unet_blocks_0_self_attn_x.lora_down.weight"}));
}

TEST(LoraFile, DiffusersAndPeft) {
  TempDir dir;
  Tensors t;
  const std::string a = ".lora_A.weight", b = ".lora_B.weight";
  add_pair(t, "transformer.blocks.0.attn1.to_q", 8, 8, 4, a, b);
  add_pair(t, "transformer.blocks.0.attn1.to_out.0", 8, 8, 4, a, b);
  t.emplace_back("transformer.blocks.0.attn1.to_out.0.lora_B.bias", at::randn({8}));
  add_pair(t, "transformer.blocks.10.attn2.to_k", 8, 8, 4, a, b);
  add_pair(t, "transformer.blocks.10.attn2.to_out.0", 8, 8, 4, a, b);
  add_pair(t, "transformer.blocks.4.ffn.net.0.proj", 16, 8, 4, a, b);
  add_pair(t, "transformer.blocks.4.ffn.net.2", 8, 16, 4, a, b);
  add_pair(t, "transformer.proj_out", 4, 8, 4, a, b);
  add_pair(t, "transformer.condition_embedder.time_proj", 48, 8, 4, a, b);
  add_pair(t, "transformer.condition_embedder.text_embedder.linear_1", 8, 6, 4, a, b);
  add_pair(t, "transformer.condition_embedder.time_embedder.linear_2", 8, 8, 4, a, b);
  add_pair(t, "transformer.blocks.0.attn2.add_k_proj", 8, 8, 4, a, b);
  add_pair(t, "transformer.condition_embedder.image_embedder.ff.net.0.proj", 8, 8, 4, a, b);
  t.emplace_back("transformer.blocks.0.attn1.to_q.lora_magnitude_vector", at::randn({8}));  // DoRA: not handled
  const auto f = lora::read_lora_file(write(dir, "diffusers.safetensors", t));

  EXPECT_EQ(f.format, lora::LoraFormat::Diffusers);
  EXPECT_EQ(targets(f), (Strings{"blocks.0.self_attn.o.bias", "blocks.0.self_attn.o.weight",
                                 "blocks.0.self_attn.q.weight", "blocks.10.cross_attn.k.weight",
                                 "blocks.10.cross_attn.o.weight", "blocks.4.ffn.0.weight", "blocks.4.ffn.2.weight",
                                 "head.head.weight", "text_embedding.0.weight", "time_embedding.2.weight",
                                 "time_projection.1.weight"}));
  const auto& bias = entry_of(f, "blocks.0.self_attn.o.bias", lora::DeltaKind::LowRankBias);
  EXPECT_EQ(bias.up_key, "transformer.blocks.0.attn1.to_out.0.lora_B.bias");
  EXPECT_EQ(bias.down_key, "transformer.blocks.0.attn1.to_out.0.lora_A.weight");
  EXPECT_EQ(bias.rank, 4);
  EXPECT_DOUBLE_EQ(bias.alpha, 4.0);
  EXPECT_EQ(entry_of(f, "head.head.weight", lora::DeltaKind::LowRank).down_key, "transformer.proj_out.lora_A.weight");
  EXPECT_EQ(f.skipped_image_keys,
            (Strings{"transformer.blocks.0.attn2.add_k_proj.lora_A.weight",
                     "transformer.blocks.0.attn2.add_k_proj.lora_B.weight",
                     "transformer.condition_embedder.image_embedder.ff.net.0.proj.lora_A.weight",
                     "transformer.condition_embedder.image_embedder.ff.net.0.proj.lora_B.weight"}));
  EXPECT_EQ(f.unmatched_keys, (Strings{"transformer.blocks.0.attn1.to_q.lora_magnitude_vector"}));

  // Raw PEFT: base_model.model. and .default, no transformer. prefix.
  Tensors peft;
  add_pair(peft, "base_model.model.blocks.5.attn1.to_k", 8, 8, 6, ".lora_A.default.weight", ".lora_B.default.weight");
  add_pair(peft, "base_model.model.blocks.5.attn2.to_v", 8, 8, 6, ".lora_A.default.weight", ".lora_B.default.weight");
  const auto p = lora::read_lora_file(write(dir, "peft.safetensors", peft));
  EXPECT_EQ(p.format, lora::LoraFormat::Diffusers);
  EXPECT_EQ(targets(p), (Strings{"blocks.5.cross_attn.v.weight", "blocks.5.self_attn.k.weight"}));
  EXPECT_EQ(p.entries[1].up_key, "base_model.model.blocks.5.attn1.to_k.lora_B.default.weight");
  EXPECT_EQ(p.entries[1].rank, 6);
}

TEST(LoraFile, NoKeyMatchesIsAnErrorNamingFileAndKey) {
  TempDir dir;
  const auto other = write(dir, "sdxl.safetensors", {{"lora_te1_text_model_q.lora_down.weight", mat(2, 8)},
                                                     {"lora_te1_text_model_q.lora_up.weight", mat(8, 2)}});
  expect_error([&] { lora::read_lora_file(other); }, ErrorCode::NotFound, other,
               {"lora_te1_text_model_q.lora_down.weight"});
  // Only image keys: nothing for a T2V model either.
  const auto i2v = write(dir, "i2v.safetensors", {{"diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight", mat(2, 8)},
                                                  {"diffusion_model.blocks.0.cross_attn.k_img.lora_up.weight", mat(8, 2)}});
  expect_error([&] { lora::read_lora_file(i2v); }, ErrorCode::NotFound, i2v,
               {"diffusion_model.blocks.0.cross_attn.k_img.lora_down.weight"});
  // A LoRA on a modulation table is no delta we know.
  const auto mod = write(dir, "mod.safetensors", {{"diffusion_model.blocks.0.modulation.lora_down.weight", mat(2, 8)}});
  expect_error([&] { lora::read_lora_file(mod); }, ErrorCode::NotFound, mod,
               {"diffusion_model.blocks.0.modulation.lora_down.weight"});
}

TEST(LoraFile, RankMismatchIsAnError) {
  TempDir dir;
  const auto path = write(dir, "rank.safetensors", {{"diffusion_model.blocks.3.self_attn.k.lora_down.weight", mat(4, 8)},
                                                    {"diffusion_model.blocks.3.self_attn.k.lora_up.weight", mat(8, 3)}});
  expect_error([&] { lora::read_lora_file(path); }, ErrorCode::ShapeMismatch, path,
               {"diffusion_model.blocks.3.self_attn.k.lora_down.weight",
                "diffusion_model.blocks.3.self_attn.k.lora_up.weight"});
}

TEST(LoraFile, MissingHalfOfAPairIsAnError) {
  TempDir dir;
  const auto no_up = write(dir, "no_up.safetensors", {{"lora_unet_blocks_1_ffn_2.lora_down.weight", mat(2, 16)},
                                                      {"lora_unet_blocks_1_ffn_2.alpha", scalar(1.0)}});
  expect_error([&] { lora::read_lora_file(no_up); }, ErrorCode::NotFound, no_up,
               {"lora_unet_blocks_1_ffn_2.lora_down.weight"});
  const auto no_down = write(dir, "no_down.safetensors", {{"transformer.blocks.1.attn1.to_v.lora_B.weight", mat(8, 2)}});
  expect_error([&] { lora::read_lora_file(no_down); }, ErrorCode::NotFound, no_down,
               {"transformer.blocks.1.attn1.to_v.lora_B.weight"});
  const auto alpha_only = write(dir, "alpha.safetensors", {{"diffusion_model.blocks.0.self_attn.q.diff", mat(8, 8)},
                                                           {"diffusion_model.blocks.1.self_attn.q.alpha", scalar(4.0)}});
  expect_error([&] { lora::read_lora_file(alpha_only); }, ErrorCode::NotFound, alpha_only,
               {"diffusion_model.blocks.1.self_attn.q.alpha"});
}

TEST(LoraFile, NanOrInfIsAnError) {
  TempDir dir;
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  auto up = mat(8, 2);
  up[3][1] = nan;
  const auto in_up = write(dir, "nan_up.safetensors", {{"diffusion_model.blocks.0.self_attn.o.lora_down.weight", mat(2, 8)},
                                                       {"diffusion_model.blocks.0.self_attn.o.lora_up.weight", up}});
  expect_error([&] { lora::read_lora_file(in_up); }, ErrorCode::CorruptFile, in_up,
               {"diffusion_model.blocks.0.self_attn.o.lora_up.weight"});
  auto diff = at::randn({1, 6, 8}).to(at::kBFloat16);
  diff[0][5][7] = -inf;
  const auto in_diff = write(dir, "inf_diff.safetensors", {{"diffusion_model.blocks.2.diff_m", diff}});
  expect_error([&] { lora::read_lora_file(in_diff); }, ErrorCode::CorruptFile, in_diff,
               {"diffusion_model.blocks.2.diff_m"});
  const auto in_alpha = write(dir, "nan_alpha.safetensors", {{"lora_unet_head_head.lora_down.weight", mat(2, 8)},
                                                             {"lora_unet_head_head.lora_up.weight", mat(4, 2)},
                                                             {"lora_unet_head_head.alpha", scalar(nan)}});
  expect_error([&] { lora::read_lora_file(in_alpha); }, ErrorCode::CorruptFile, in_alpha, {"lora_unet_head_head.alpha"});
}

TEST(LoraFile, TwoKeysForOneDeltaIsAnError) {
  TempDir dir;
  const auto path = write(dir, "twice.safetensors", {{"diffusion_model.blocks.0.diff_m", at::randn({1, 6, 8})},
                                                     {"diffusion_model.blocks.0.modulation.diff", at::randn({1, 6, 8})}});
  expect_error([&] { lora::read_lora_file(path); }, ErrorCode::BadArgument, path,
               {"diffusion_model.blocks.0.diff_m", "diffusion_model.blocks.0.modulation.diff"});
}

TEST(LoraFile, ShapesCheckedAgainstTheModel) {
  // A tiny DiT's parameters (dim 8, ffn 16, text 6, out 4, one block), written out by hand.
  const lora::ParameterShapes model = {
      {"blocks.0.self_attn.q.weight", {8, 8}}, {"blocks.0.self_attn.q.bias", {8}},
      {"blocks.0.ffn.0.weight", {16, 8}},      {"blocks.0.ffn.2.weight", {8, 16}},
      {"blocks.0.modulation", {1, 6, 8}},      {"head.head.weight", {4, 8}},
  };
  TempDir dir;
  Tensors t;
  add_pair(t, "diffusion_model.blocks.0.self_attn.q", 8, 8, 2);
  add_pair(t, "diffusion_model.blocks.0.ffn.0", 16, 8, 2);
  add_pair(t, "diffusion_model.blocks.0.ffn.2", 8, 16, 2);
  t.emplace_back("diffusion_model.blocks.0.self_attn.q.diff_b", at::randn({8}));
  t.emplace_back("diffusion_model.blocks.0.diff_m", at::randn({6, 8}));  // fits [1, 6, 8]
  const auto good = write(dir, "good.safetensors", t);
  EXPECT_NO_THROW(lora::check_lora_shapes(lora::read_lora_file(good), model));

  // ffn.0 and ffn.2 swapped: [16, 8] against [8, 16].
  Tensors swapped;
  add_pair(swapped, "diffusion_model.blocks.0.ffn.2", 16, 8, 2);
  const auto bad = write(dir, "swapped.safetensors", swapped);
  const auto bad_lora = lora::read_lora_file(bad);
  expect_error([&] { lora::check_lora_shapes(bad_lora, model); }, ErrorCode::ShapeMismatch, bad,
               {"diffusion_model.blocks.0.ffn.2.lora_up.weight", "[16, 8]", "[8, 16]"});

  const auto bad_diff = write(dir, "diff.safetensors", {{"diffusion_model.head.head.diff", mat(4, 9)}});
  const auto bad_diff_lora = lora::read_lora_file(bad_diff);
  expect_error([&] { lora::check_lora_shapes(bad_diff_lora, model); }, ErrorCode::ShapeMismatch, bad_diff,
               {"diffusion_model.head.head.diff", "[4, 9]", "[4, 8]"});

  // A 14B LoRA on a 1-block model: block 1 does not exist.
  Tensors deeper;
  add_pair(deeper, "diffusion_model.blocks.1.self_attn.q", 8, 8, 2);
  const auto deep = write(dir, "deep.safetensors", deeper);
  const auto deep_lora = lora::read_lora_file(deep);
  expect_error([&] { lora::check_lora_shapes(deep_lora, model); }, ErrorCode::NotFound, deep,
               {"diffusion_model.blocks.1.self_attn.q.lora_up.weight", "blocks.1.self_attn.q.weight"});
}
