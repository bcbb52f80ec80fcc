// LoRAs merged into a tiny random DiT: crafted files in each format (written with our safetensors writer),
// the expected weights computed here in float64 from the crafted tensors, independently of the merge.

#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/metrics.h"
#include "io/safetensors.h"
#include "lora/lora_merge.h"
#include "model/layers.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "test_support.h"

namespace io = skyreels::io;
namespace lora = skyreels::lora;
namespace model = skyreels::model;
using skyreels::ErrorCode;
using skyreels::test::error_text;
using skyreels::test::TempDir;
using skyreels::test::test_device;

namespace {

using Tensors = std::vector<std::pair<std::string, at::Tensor>>;
using Weights = std::map<std::string, at::Tensor>;  // CPU copies by official name

model::WanDitConfig tiny_config() {
  model::WanDitConfig c;
  c.dim = 64;
  c.ffn_dim = 96;
  c.text_dim = 32;
  c.num_heads = 2;
  c.num_layers = 2;
  c.inject_sample_info = true;
  return c;
}

model::WanDit tiny_dit(std::uint64_t seed = 7) {
  model::WanDit dit(tiny_config(), at::TensorOptions().device(test_device()).dtype(at::kBFloat16));
  model::randomize_weights(*dit, seed, 0.1);
  return dit;
}

Weights weights_of(model::WanDitImpl& dit) {
  Weights w;
  for (const auto& p : dit.named_parameters()) w[p.key()] = p.value().cpu().clone();
  return w;
}

Tensors as_list(const Weights& w) { return Tensors(w.begin(), w.end()); }

at::Tensor forward(model::WanDitImpl& dit) {
  torch::NoGradGuard no_grad;
  at::manual_seed(11);
  const auto d = test_device();
  const auto x = at::randn({1, 16, 3, 4, 6}).to(d, at::kBFloat16);
  const auto t = at::tensor({999, 800, 500}, at::kLong).to(d);
  const auto context = at::randn({1, 5, 32}).to(d, at::kBFloat16);
  return dit.forward(x, t, context, 1).cpu();
}

// --- crafted LoRAs ----------------------------------------------------------------------------------

enum class Format { WanNative, Kohya, Diffusers };

// One module's low-rank pair in official terms: ΔW = alpha / rank × up · down.
struct Pair {
  std::string module;  // blocks.0.self_attn.q
  at::Tensor up, down;  // [out, rank], [rank, in]
  double alpha = 0;     // 0: the file has no alpha (alpha = rank)
};

// A full-rank diff of one parameter, in official terms.
struct Diff {
  std::string parameter;  // blocks.0.self_attn.k.weight, blocks.1.modulation
  std::string key;        // its Wan-native key
  at::Tensor value;
};

struct Craft {
  std::vector<Pair> pairs;
  std::vector<Diff> diffs;  // Wan-native files only
};

// The diffusers names of the modules the crafts use, written out by hand.
std::string diffusers_module(const std::string& module) {
  static const std::map<std::string, std::string> names = {
      {"blocks.0.self_attn.q", "blocks.0.attn1.to_q"},     {"blocks.1.self_attn.v", "blocks.1.attn1.to_v"},
      {"blocks.1.cross_attn.o", "blocks.1.attn2.to_out.0"}, {"blocks.0.cross_attn.k", "blocks.0.attn2.to_k"},
      {"blocks.1.ffn.0", "blocks.1.ffn.net.0.proj"},        {"blocks.0.ffn.2", "blocks.0.ffn.net.2"},
      {"head.head", "proj_out"},                            {"text_embedding.0", "condition_embedder.text_embedder.linear_1"},
      {"time_projection.1", "condition_embedder.time_proj"},
  };
  return names.at(module);
}

std::string flat(std::string s) {
  for (auto& c : s)
    if (c == '.') c = '_';
  return s;
}

std::string write_lora(const TempDir& dir, const std::string& name, const Craft& craft, Format format) {
  Tensors t;
  for (const auto& p : craft.pairs) {
    switch (format) {
      case Format::WanNative:
        t.emplace_back("diffusion_model." + p.module + ".lora_down.weight", p.down);
        t.emplace_back("diffusion_model." + p.module + ".lora_up.weight", p.up);
        if (p.alpha > 0) t.emplace_back("diffusion_model." + p.module + ".alpha", at::scalar_tensor(p.alpha));
        break;
      case Format::Kohya:
        t.emplace_back("lora_unet_" + flat(p.module) + ".lora_down.weight", p.down);
        t.emplace_back("lora_unet_" + flat(p.module) + ".lora_up.weight", p.up);
        if (p.alpha > 0) t.emplace_back("lora_unet_" + flat(p.module) + ".alpha", at::scalar_tensor(p.alpha));
        break;
      case Format::Diffusers:  // PEFT stores no alpha: craft them without
        t.emplace_back("transformer." + diffusers_module(p.module) + ".lora_A.weight", p.down);
        t.emplace_back("transformer." + diffusers_module(p.module) + ".lora_B.weight", p.up);
        break;
    }
  }
  for (const auto& d : craft.diffs) t.emplace_back(d.key, d.value);
  const auto path = (dir / name).string();
  io::write_safetensors(path, t);
  return path;
}

Pair pair(const std::string& module, std::int64_t out, std::int64_t in, std::int64_t rank, double alpha,
          at::ScalarType dtype = at::kFloat) {
  return {module, (at::randn({out, rank}) * 0.2).to(dtype), (at::randn({rank, in}) * 0.2).to(dtype), alpha};
}

// A LoRA on attention, FFN, head and embeddings of the tiny DiT (dim 64, ffn 96, text 32).
Craft linear_craft(std::uint64_t seed, bool with_alpha = true) {
  at::manual_seed(seed);
  const double a = with_alpha ? 8.0 : 0.0;
  return {{pair("blocks.0.self_attn.q", 64, 64, 4, a), pair("blocks.1.cross_attn.o", 64, 64, 2, a, at::kBFloat16),
           pair("blocks.1.ffn.0", 96, 64, 4, a), pair("blocks.0.ffn.2", 64, 96, 3, a), pair("head.head", 64, 64, 2, a),
           pair("text_embedding.0", 64, 32, 4, a), pair("time_projection.1", 384, 64, 4, a)},
          {}};
}

// Full-rank diffs of a distillation LoRA (Wan-native): weight, bias, norm and modulation.
Craft diff_craft(std::uint64_t seed) {
  at::manual_seed(seed);
  Craft c = linear_craft(seed + 1);
  c.pairs.resize(2);
  c.diffs = {{"blocks.0.self_attn.k.weight", "diffusion_model.blocks.0.self_attn.k.diff", at::randn({64, 64}) * 0.05},
             {"blocks.0.self_attn.k.bias", "diffusion_model.blocks.0.self_attn.k.diff_b", at::randn({64}) * 0.05},
             {"blocks.1.norm3.weight", "diffusion_model.blocks.1.norm3.diff", at::randn({64}) * 0.05},
             {"blocks.1.modulation", "diffusion_model.blocks.1.diff_m", at::randn({6, 64}) * 0.05},
             {"head.modulation", "diffusion_model.head.modulation.diff", at::randn({1, 2, 64}) * 0.05}};
  return c;
}

// W + Σ strength × ΔW in float64, from the crafted tensors.
std::map<std::string, at::Tensor> expected_float64(const Weights& original,
                                                   const std::vector<std::pair<Craft, double>>& loras) {
  std::map<std::string, at::Tensor> out;
  auto add = [&](const std::string& name, const at::Tensor& delta) {
    if (!out.count(name)) out[name] = original.at(name).to(at::kDouble);
    out[name] += delta.to(at::kDouble).reshape(out[name].sizes());
  };
  for (const auto& [craft, strength] : loras) {
    for (const auto& p : craft.pairs) {
      const double rank = static_cast<double>(p.down.size(0));
      const double alpha = p.alpha > 0 ? p.alpha : rank;
      add(p.module + ".weight", strength * alpha / rank * at::mm(p.up.to(at::kDouble), p.down.to(at::kDouble)));
    }
    for (const auto& d : craft.diffs) add(d.parameter, strength * d.value.to(at::kDouble));
  }
  return out;
}

// `got` (bf16) is `want` (float64) rounded once: within one bf16 spacing of it (half a spacing for the
// rounding, the rest for the float32 arithmetic before it, which can tip a value at a tie), plus that
// arithmetic's own error where W and ΔW cancel (2^-20 of the tensor's largest value, far below bf16's 2^-8).
void expect_one_rounding(const std::string& name, const at::Tensor& got, const at::Tensor& want) {
  ASSERT_EQ(got.scalar_type(), at::kBFloat16) << name;
  const auto g = got.to(at::kDouble), w = want.to(at::kDouble);
  const auto magnitude = at::maximum(g.abs(), w.abs()).clamp_min(1e-30);
  const auto spacing = at::exp2(at::floor(at::log2(magnitude)) - 7);
  const double float32_slack = std::ldexp(w.abs().max().item<double>(), -20);
  const auto excess = (g - w).abs() - spacing - float32_slack;
  EXPECT_LE(excess.max().item<double>(), 0.0) << name << ": max |got - want| " << (g - w).abs().max().item<double>();
}

void expect_same(const Weights& a, const Weights& b) {
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_TRUE(at::equal(t, b.at(name))) << name;
}

// Every parameter of `w` is within one rounding of `want` where `want` has it, else equal to `original`.
void expect_merged(const Weights& w, const Weights& original, const std::map<std::string, at::Tensor>& want) {
  for (const auto& [name, t] : w) {
    if (want.count(name)) expect_one_rounding(name, t, want.at(name));
    else EXPECT_TRUE(at::equal(t, original.at(name))) << name << " changed though no LoRA touches it";
  }
}

std::string save_checkpoint(const TempDir& dir, const std::string& name, const Weights& w) {
  const auto path = (dir / name).string();
  io::write_safetensors(path, as_list(w));
  return path;
}

model::WanDit load(const std::string& path) {
  return model::load_wan_dit(io::open_weights(path), tiny_config(), test_device());
}

}  // namespace

TEST(LoraMerge, MergedWeightsAreWPlusDeltaRoundedOnceInEachFormat) {
  TempDir dir;
  for (const auto format : {Format::WanNative, Format::Kohya, Format::Diffusers}) {
    auto dit = tiny_dit();
    const auto original = weights_of(*dit);
    const auto craft = linear_craft(3, format != Format::Diffusers);
    const auto path = write_lora(dir, "lora" + std::to_string(static_cast<int>(format)) + ".safetensors", craft, format);
    lora::LoraMerger merger(*dit);
    const auto report = merger.apply({{path, 0.7}});
    ASSERT_EQ(report.loras.size(), 1u);
    EXPECT_EQ(report.loras[0].parameters, craft.pairs.size());
    EXPECT_EQ(report.parameters_merged, craft.pairs.size());
    expect_merged(weights_of(*dit), original, expected_float64(original, {{craft, 0.7}}));
  }
}

TEST(LoraMerge, FullRankDiffsMergeIntoWeightsBiasesNormsAndModulation) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto original = weights_of(*dit);
  const auto craft = diff_craft(5);
  const auto path = write_lora(dir, "distill.safetensors", craft, Format::WanNative);
  lora::LoraMerger merger(*dit);
  EXPECT_EQ(merger.apply({{path, 1.25}}).parameters_merged, craft.pairs.size() + craft.diffs.size());
  expect_merged(weights_of(*dit), original, expected_float64(original, {{craft, 1.25}}));
}

TEST(LoraMerge, OutputEqualsACheckpointWithTheMergedWeights) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto original = weights_of(*dit);
  const auto craft = diff_craft(9);
  lora::LoraMerger merger(*dit);
  merger.apply({{write_lora(dir, "l.safetensors", craft, Format::WanNative), 0.8}});
  const auto merged_output = forward(*dit);

  // The merged weights written out and loaded as a model give the same output: no state besides the weights.
  auto reloaded = load(save_checkpoint(dir, "merged.safetensors", weights_of(*dit)));
  EXPECT_TRUE(at::equal(forward(*reloaded), merged_output));

  // A checkpoint of the float64 expectation rounded to bf16 gives the same output up to the odd weight
  // that rounded the other way.
  auto expected = original;
  for (const auto& [name, t] : expected_float64(original, {{craft, 0.8}})) expected[name] = t.to(at::kBFloat16);
  auto independent = load(save_checkpoint(dir, "expected.safetensors", expected));
  EXPECT_LT(skyreels::conformance::relative_l2(forward(*independent), merged_output), 1e-3);
  EXPECT_GT(skyreels::conformance::relative_l2(forward(*dit), forward(*tiny_dit())), 1e-2);  // the LoRA does act
}

TEST(LoraMerge, StrengthZeroGivesTheOriginalOutputExactly) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto original = weights_of(*dit);
  const auto before = forward(*dit);
  lora::LoraMerger merger(*dit);
  merger.apply({{write_lora(dir, "l.safetensors", diff_craft(4), Format::WanNative), 0.0}});
  expect_same(weights_of(*dit), original);
  EXPECT_TRUE(at::equal(forward(*dit), before));
}

TEST(LoraMerge, TwoLorasAdd) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto original = weights_of(*dit);
  const auto a = diff_craft(21), b = linear_craft(22);  // overlapping modules (q, cross o, ...)
  const auto path_a = write_lora(dir, "a.safetensors", a, Format::WanNative);
  const auto path_b = write_lora(dir, "b.safetensors", b, Format::Kohya);
  lora::LoraMerger merger(*dit);
  const auto report = merger.apply({{path_a, 1.0}, {path_b, -0.5}});
  ASSERT_EQ(report.loras.size(), 2u);
  EXPECT_EQ(report.loras[1].format, lora::LoraFormat::Kohya);
  EXPECT_DOUBLE_EQ(report.loras[1].strength, -0.5);
  expect_merged(weights_of(*dit), original, expected_float64(original, {{a, 1.0}, {b, -0.5}}));
  ASSERT_EQ(merger.applied().size(), 2u);
  EXPECT_EQ(merger.applied()[1].path, path_b);
}

TEST(LoraMerge, UnmergeAndRemergeRestoreExactly) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto original = weights_of(*dit);
  const auto path_a = write_lora(dir, "a.safetensors", diff_craft(31), Format::WanNative);
  const auto path_b = write_lora(dir, "b.safetensors", linear_craft(32), Format::Diffusers);
  lora::LoraMerger merger(*dit);

  merger.apply({{path_a, 0.9}});
  const auto with_a = weights_of(*dit);
  EXPECT_GT(merger.original_bytes(), 0);
  const auto report = merger.apply({});
  EXPECT_EQ(report.parameters_restored, diff_craft(31).pairs.size() + diff_craft(31).diffs.size());
  expect_same(weights_of(*dit), original);
  EXPECT_EQ(merger.original_bytes(), 0);
  EXPECT_TRUE(merger.applied().empty());

  // Merging again and again starts from the originals each time: no rounding accumulates.
  for (int i = 0; i < 4; ++i) merger.apply({{path_a, 0.9}});
  expect_same(weights_of(*dit), with_a);

  // Another LoRA instead: the same weights as merging it into a fresh model.
  merger.apply({{path_b, 0.6}});
  auto fresh = tiny_dit();
  lora::LoraMerger fresh_merger(*fresh);
  fresh_merger.apply({{path_b, 0.6}});
  expect_same(weights_of(*dit), weights_of(*fresh));

  merger.clear();
  expect_same(weights_of(*dit), original);
}

// Issue 24: a streamed block's weights wait in host memory and reach the device only while it runs; a
// merge between forwards goes into that host copy, so the next pass brings the merged weights.
TEST(LoraMerge, StreamedBlocksMergeAndUnmergeAsResidentOnes) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto original = weights_of(*dit);
  model::DitStreaming streaming;
  streaming.streamed_blocks = 1;
  auto streamed = model::load_wan_dit(io::open_weights(save_checkpoint(dir, "base.safetensors", original)), tiny_config(),
                                      test_device(), false, streaming);
  ASSERT_NE(streamed->block_streamer(), nullptr);
  const auto before = forward(*streamed);  // the slots exist and have served a pass before the merge
  EXPECT_TRUE(at::equal(before, forward(*dit)));
  const auto craft = diff_craft(13);  // touches blocks.1, the streamed one
  const auto path = write_lora(dir, "l.safetensors", craft, Format::WanNative);
  lora::LoraMerger streamed_merger(*streamed);
  streamed_merger.apply({{path, 0.9}});
  expect_merged(weights_of(*streamed), original, expected_float64(original, {{craft, 0.9}}));
  const auto merged = forward(*streamed);
  EXPECT_GT(skyreels::conformance::relative_l2(merged, before), 1e-2);
  if (test_device().is_cpu()) {
    // Merged where the resident model merges (a GPU merges the streamed block's host copy on the CPU,
    // whose float32 sums may round differently).
    lora::LoraMerger merger(*dit);
    merger.apply({{path, 0.9}});
    expect_same(weights_of(*streamed), weights_of(*dit));
    EXPECT_TRUE(at::equal(merged, forward(*dit)));
  }

  streamed_merger.clear();
  expect_same(weights_of(*streamed), original);
  EXPECT_TRUE(at::equal(forward(*streamed), before));
}

TEST(LoraMerge, BadFilesFailBeforeAnyWeightChanges) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto good = write_lora(dir, "good.safetensors", linear_craft(41), Format::WanNative);
  const auto other = write_lora(dir, "other.safetensors", diff_craft(42), Format::WanNative);
  lora::LoraMerger merger(*dit);
  merger.apply({{good, 1.0}});
  const auto merged = weights_of(*dit);

  const auto nothing = (dir / "sdxl.safetensors").string();
  io::write_safetensors(nothing, {{"lora_te1_text_model_q.lora_down.weight", at::randn({2, 8})},
                                  {"lora_te1_text_model_q.lora_up.weight", at::randn({8, 2})}});
  const auto shape = (dir / "shape.safetensors").string();  // ffn.2 is [64, 96]: a [96, 64] delta
  io::write_safetensors(shape, {{"diffusion_model.blocks.0.ffn.2.lora_down.weight", at::randn({2, 64})},
                                {"diffusion_model.blocks.0.ffn.2.lora_up.weight", at::randn({96, 2})}});
  const auto rank = (dir / "rank.safetensors").string();
  io::write_safetensors(rank, {{"diffusion_model.blocks.0.self_attn.k.lora_down.weight", at::randn({4, 64})},
                               {"diffusion_model.blocks.0.self_attn.k.lora_up.weight", at::randn({64, 3})}});
  const auto nan = (dir / "nan.safetensors").string();
  auto up = at::randn({64, 2});
  up[5][1] = std::numeric_limits<float>::quiet_NaN();
  io::write_safetensors(nan, {{"diffusion_model.blocks.1.self_attn.o.lora_down.weight", at::randn({2, 64})},
                              {"diffusion_model.blocks.1.self_attn.o.lora_up.weight", up}});
  const auto missing = (dir / "missing.safetensors").string();

  struct Case {
    std::vector<lora::LoraUse> loras;
    ErrorCode code;
    std::string file, key;
  };
  const std::vector<Case> cases = {
      {{{other, 1.0}, {nothing, 1.0}}, ErrorCode::NotFound, nothing, "lora_te1_text_model_q.lora_down.weight"},
      {{{other, 1.0}, {shape, 1.0}}, ErrorCode::ShapeMismatch, shape, "diffusion_model.blocks.0.ffn.2.lora_up.weight"},
      {{{other, 1.0}, {rank, 1.0}}, ErrorCode::ShapeMismatch, rank, "diffusion_model.blocks.0.self_attn.k.lora_down.weight"},
      {{{other, 1.0}, {nan, 1.0}}, ErrorCode::CorruptFile, nan, "diffusion_model.blocks.1.self_attn.o.lora_up.weight"},
      {{{other, 1.0}, {missing, 1.0}}, ErrorCode::NotFound, missing, ""},
      {{{other, std::numeric_limits<double>::quiet_NaN()}}, ErrorCode::BadArgument, other, "strength"},
  };
  for (const auto& c : cases) {
    ErrorCode code = ErrorCode::Invalid;
    const auto text = error_text([&] { merger.apply(c.loras); }, &code);
    EXPECT_EQ(code, c.code) << text;
    EXPECT_NE(text.find(c.file), std::string::npos) << text;
    EXPECT_NE(text.find(c.key), std::string::npos) << text;
    expect_same(weights_of(*dit), merged);  // still the good LoRA, untouched
    ASSERT_EQ(merger.applied().size(), 1u);
    EXPECT_EQ(merger.applied()[0].path, good);
  }

  // A strength that overflows bf16 is found while writing: every parameter goes back to its original.
  const auto original = weights_of(*tiny_dit());
  ErrorCode code = ErrorCode::Invalid;
  const auto text = error_text([&] { merger.apply({{other, 3e38}}); }, &code);
  EXPECT_EQ(code, ErrorCode::BadArgument) << text;
  EXPECT_NE(text.find(other), std::string::npos) << text;
  expect_same(weights_of(*dit), original);
  EXPECT_TRUE(merger.applied().empty());
}

// A float8 layer keeps no bf16 weight: the merge reads it from the checkpoint and quantizes the merged
// weight again. Float8 needs CUDA and LibTorch 2.5; here a layer is made to look float8 (its weight
// emptied, the buffers set) and the quantizer is replaced by one that records what it is given.
TEST(LoraMerge, Float8LayersMergeFromTheCheckpointAndAreQuantizedAgain) {
  TempDir dir;
  auto dit = tiny_dit();
  const auto original = weights_of(*dit);
  const auto checkpoint = save_checkpoint(dir, "model.safetensors", original);
  auto& q = *dit->blocks[0]->as<model::WanAttentionBlockImpl>()->self_attn->q;
  q.weight_fp8 = q.weight.to(at::kFloat).clone();
  q.weight_scale = at::ones({1, 64}, q.weight_fp8.options());
  q.weight.set_();
  const auto fp8_values = q.weight_fp8.cpu().clone(), fp8_scale = q.weight_scale.cpu().clone();

  std::vector<at::Tensor> quantized;
  const lora::LoraMerger::Requantize record = [&](model::LinearImpl& layer, const at::Tensor& w) {
    quantized.push_back(w.cpu());
    layer.weight_fp8.copy_(w.to(at::kFloat));
    layer.weight_scale.fill_(2.0);
  };
  const auto craft = linear_craft(51);
  const auto path = write_lora(dir, "l.safetensors", craft, Format::WanNative);

  // Without the checkpoint there is no weight to merge into: said before anything changes.
  lora::LoraMerger without(*dit, nullptr, record);
  ErrorCode code = ErrorCode::Invalid;
  const auto text = error_text([&] { without.apply({{path, 1.0}}); }, &code);
  EXPECT_EQ(code, ErrorCode::Unsupported) << text;
  EXPECT_NE(text.find("blocks.0.self_attn.q.weight"), std::string::npos) << text;
  EXPECT_TRUE(quantized.empty());

  lora::LoraMerger merger(*dit, io::open_weights(checkpoint), record);
  merger.apply({{path, 1.0}});
  ASSERT_EQ(quantized.size(), 1u);
  const auto want = expected_float64(original, {{craft, 1.0}});
  expect_one_rounding("blocks.0.self_attn.q.weight (float8)", quantized[0], want.at("blocks.0.self_attn.q.weight"));
  EXPECT_EQ(q.weight.numel(), 0);  // still float8: no bf16 weight came back
  // The other layers merge as usual.
  expect_one_rounding("blocks.0.ffn.2.weight", dit->blocks[0]->as<model::WanAttentionBlockImpl>()->ffn[2]
                                                   ->as<model::LinearImpl>()->weight.cpu(),
                      want.at("blocks.0.ffn.2.weight"));

  merger.apply({});
  EXPECT_TRUE(at::equal(q.weight_fp8.cpu(), fp8_values));
  EXPECT_TRUE(at::equal(q.weight_scale.cpu(), fp8_scale));
}

// The real float8 path where the device has it: a merged float8 model is the float8 load of the merged
// bf16 weights.
TEST(LoraMerge, Float8MergeEqualsLoadingTheMergedWeightsAsFloat8) {
  if (const auto why = model::fp8_unsupported_reason(test_device()); !why.empty()) GTEST_SKIP() << why;
  TempDir dir;
  auto dit = tiny_dit();
  const auto checkpoint = save_checkpoint(dir, "model.safetensors", weights_of(*dit));
  const auto path = write_lora(dir, "l.safetensors", diff_craft(61), Format::WanNative);
  lora::LoraMerger bf16_merger(*dit);
  bf16_merger.apply({{path, 0.75}});
  const auto merged_checkpoint = save_checkpoint(dir, "merged.safetensors", weights_of(*dit));

  auto fp8 = model::load_wan_dit(io::open_weights(checkpoint), tiny_config(), test_device(), /*fp8=*/true);
  lora::LoraMerger merger(*fp8, io::open_weights(checkpoint));
  merger.apply({{path, 0.75}});
  auto expected = model::load_wan_dit(io::open_weights(merged_checkpoint), tiny_config(), test_device(), /*fp8=*/true);
  auto got_buffers = fp8->named_buffers(), want_buffers = expected->named_buffers();
  for (const auto& b : want_buffers) EXPECT_TRUE(at::equal(got_buffers[b.key()].cpu(), b.value().cpu())) << b.key();
  EXPECT_TRUE(at::equal(forward(*fp8), forward(*expected)));
}
