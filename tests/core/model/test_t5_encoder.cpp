#include <algorithm>
#include <filesystem>
#include <functional>
#include <regex>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/t5_encoder.h"
#include "model/weights.h"
#include "skyreels/conformance.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace conf = skyreels::conformance;
namespace io = skyreels::io;
namespace model = skyreels::model;
using skyreels::Error;
using skyreels::ErrorCode;
using skyreels::test::fixture_case;
using skyreels::test::TempDir;
using skyreels::test::test_device;

using skyreels::test::error_text;

namespace {

std::string describe(const conf::CaseResult& r) {
  std::string text = r.message;
  for (const auto& m : r.metrics) text += " [" + m.name + " = " + std::to_string(m.value) + "]";
  return text;
}

model::T5EncoderConfig tiny_config() {
  model::T5EncoderConfig c;
  c.vocab = 50;
  c.dim = 32;
  c.dim_attn = 32;
  c.dim_ffn = 48;
  c.num_heads = 4;
  c.num_layers = 2;
  return c;
}

// Random weights; norms at 1 plus a little noise so they matter but do not shrink the signal.
// How far bf16 rounding moves this tiny net's output: its x10 position tables amplify rounding well
// beyond the DiT's kBf16NoiseRelL2 (measured 1.3e-2 to 2.1e-2, CPU and H100). Structural errors
// (padding leaking into real rows) are caught in float32, where the same comparisons are held to 1e-5.
constexpr double kTinyT5Bf16Noise = 3e-2;

model::T5Encoder tiny_t5(model::T5Compute compute = model::T5Compute::Bf16Autocast, std::uint64_t seed = 3) {
  torch::NoGradGuard no_grad;
  model::T5Encoder t5(tiny_config(), at::TensorOptions().device(test_device()).dtype(at::kBFloat16), compute);
  model::randomize_weights(*t5, seed, 0.2);
  for (auto& p : t5->named_parameters(true))
    if (p.key().find("norm") != std::string::npos) p.value().add_(1.0);
  // Position tables large enough that the buckets visibly matter.
  for (auto& p : t5->named_parameters(true))
    if (p.key().find("pos_embedding") != std::string::npos) p.value().mul_(10.0);
  return t5;
}

std::vector<std::pair<std::string, at::Tensor>> state_dict(torch::nn::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value().cpu());
  return out;
}

// The HF UMT5EncoderModel names of the official keys, written out independently of the loader's table.
std::string to_hf(const std::string& key) {
  const std::vector<std::pair<std::string, std::string>> rules = {
      {R"(^token_embedding\.weight$)", "shared.weight"},
      {R"(^blocks\.(\d+)\.attn\.([qkvo])\.weight$)", "encoder.block.$1.layer.0.SelfAttention.$2.weight"},
      {R"(^blocks\.(\d+)\.pos_embedding\.embedding\.weight$)",
       "encoder.block.$1.layer.0.SelfAttention.relative_attention_bias.weight"},
      {R"(^blocks\.(\d+)\.norm1\.weight$)", "encoder.block.$1.layer.0.layer_norm.weight"},
      {R"(^blocks\.(\d+)\.ffn\.gate\.0\.weight$)", "encoder.block.$1.layer.1.DenseReluDense.wi_0.weight"},
      {R"(^blocks\.(\d+)\.ffn\.fc1\.weight$)", "encoder.block.$1.layer.1.DenseReluDense.wi_1.weight"},
      {R"(^blocks\.(\d+)\.ffn\.fc2\.weight$)", "encoder.block.$1.layer.1.DenseReluDense.wo.weight"},
      {R"(^blocks\.(\d+)\.norm2\.weight$)", "encoder.block.$1.layer.1.layer_norm.weight"},
      {R"(^norm\.weight$)", "encoder.final_layer_norm.weight"},
  };
  for (const auto& [pattern, replacement] : rules) {
    const std::regex re(pattern);
    if (std::regex_search(key, re)) return std::regex_replace(key, re, replacement);
  }
  ADD_FAILURE() << "no HF name for " << key;
  return key;
}

struct Prompt {
  at::Tensor ids, mask;
};

// `real` tokens followed by padding (random ids under the padding too, to show they do not matter).
Prompt prompt(std::int64_t length, std::int64_t real, std::uint64_t seed = 17) {
  at::manual_seed(seed);
  const auto ids = at::randint(3, 50, {1, length}, at::kLong);
  auto mask = at::zeros({1, length}, at::kLong);
  mask.narrow(1, 0, real).fill_(1);
  return {ids, mask};
}

}  // namespace

// --- the reference fixtures ---------------------------------------------------------------------------

TEST(T5Encoder, FixtureFp32Passes) {
  const auto r = conf::run_case(fixture_case("t5_fp32").string(), skyreels::test::check_options());
  ASSERT_EQ(r.status, conf::CaseStatus::Passed) << describe(r);
}

TEST(T5Encoder, FixtureBf16AutocastPasses) {
  const auto r = conf::run_case(fixture_case("t5_bf16_autocast").string(), skyreels::test::check_options());
  ASSERT_EQ(r.status, conf::CaseStatus::Passed) << describe(r);
  ASSERT_EQ(r.metrics.size(), 2u) << "the weights.pth route should be checked too";
}

TEST(T5Encoder, ConfigIsDetectedFromTheFixtureWeights) {
  const auto dir = fixture_case("t5_fp32");
  auto file = std::make_shared<io::SafetensorsFile>((dir / "tensors.safetensors").string());
  const auto c = model::T5EncoderConfig::detect(*io::prefixed_view(io::safetensors_source(file), "w."));
  EXPECT_EQ(c.vocab, 300);
  EXPECT_EQ(c.dim, 64);
  EXPECT_EQ(c.dim_attn, 64);
  EXPECT_EQ(c.dim_ffn, 96);
  EXPECT_EQ(c.num_heads, 4);
  EXPECT_EQ(c.num_layers, 2);
  EXPECT_EQ(c.num_buckets, 32);
  EXPECT_EQ(c.max_dist, 128);
  EXPECT_EQ(c.head_dim(), 16);
}

// The official .pth route (torch.save of the same weights) gives the fp32 reference's encoder.
TEST(T5Encoder, LoadsTheOfficialPthLayout) {
  torch::NoGradGuard no_grad;
  const auto dir = fixture_case("t5_bf16_autocast");
  conf::FixtureCase fixture(dir);
  model::T5LoadOptions o;
  o.num_heads = 4;
  auto from_pth = model::load_t5_encoder((dir / "weights.pth").string(), "", test_device(), o);
  auto file = std::make_shared<io::SafetensorsFile>((dir / "tensors.safetensors").string());
  auto from_st = model::load_t5_encoder(io::prefixed_view(io::safetensors_source(file), "w."), test_device(), o);
  const auto ids = fixture.tensor("in.ids"), mask = fixture.tensor("in.mask");
  EXPECT_TRUE(at::equal(from_pth->forward(ids, mask), from_st->forward(ids, mask)));
}

// --- pieces ------------------------------------------------------------------------------------------------

// Hand-computed: 16 buckets per direction, exact below 8, then 8 + trunc(ln(n/8) / ln(16) * 8), at most 15;
// keys after the query (j - i > 0) use buckets 16..31.
TEST(T5Encoder, RelativeBucketsMatchHandComputedValues) {
  const std::vector<std::pair<std::int64_t, std::int64_t>> expected = {
      {0, 0},    {1, 1},    {2, 2},    {7, 7},    {8, 8},    {11, 8},   {12, 9},   {15, 9},   {16, 10},
      {22, 10},  {23, 11},  {31, 11},  {32, 12},  {45, 12},  {46, 13},  {63, 13},  {64, 14},  {90, 14},
      {91, 15},  {127, 15}, {128, 15}, {500, 15}};
  const std::int64_t n = 501;
  // One query at 0 against keys 0..n-1: relative positions +0..+n-1; one key at 0 against queries: -0..-(n-1).
  const auto after = model::t5_relative_position_buckets(1, n, 32, 128).view(-1);
  const auto before = model::t5_relative_position_buckets(n, 1, 32, 128).view(-1);
  for (const auto& [distance, bucket] : expected) {
    EXPECT_EQ(before[distance].item<std::int64_t>(), bucket) << "key " << distance << " before the query";
    EXPECT_EQ(after[distance].item<std::int64_t>(), distance == 0 ? 0 : 16 + bucket) << "key " << distance << " after";
  }
  // Shape and a symmetric case: [lq, lk] with rel = j - i.
  const auto b = model::t5_relative_position_buckets(3, 4, 32, 128);
  ASSERT_EQ(b.sizes(), (std::vector<std::int64_t>{3, 4}));
  EXPECT_EQ(b[2][0].item<std::int64_t>(), 2);       // j - i = -2
  EXPECT_EQ(b[0][3].item<std::int64_t>(), 16 + 3);  // j - i = +3
}

TEST(T5Encoder, PaddedRowsAreZeroAndPaddingDoesNotLeakIntoRealRows) {
  torch::NoGradGuard no_grad;
  for (const auto compute : {model::T5Compute::Float32, model::T5Compute::Bf16Autocast}) {
    auto t5 = tiny_t5(compute);
    const auto p = prompt(12, 7);
    const auto out = t5->forward(p.ids, p.mask);
    ASSERT_EQ(out.sizes(), (std::vector<std::int64_t>{1, 12, 32}));
    EXPECT_EQ(out.scalar_type(), compute == model::T5Compute::Float32 ? at::kFloat : at::kBFloat16);
    EXPECT_EQ(out.narrow(1, 7, 5).abs().max().item<double>(), 0.0) << model::to_string(compute);
    EXPECT_GT(out.narrow(1, 0, 7).abs().min().item<double>() + out.narrow(1, 0, 7).abs().mean().item<double>(), 0.0);

    // Other ids under the padding: the real rows are bitwise the same (padded keys get weight 0).
    auto other = p.ids.clone();
    other.narrow(1, 7, 5).fill_(4);
    EXPECT_TRUE(at::equal(t5->forward(other, p.mask), out)) << model::to_string(compute);

    // Only the real tokens, no padding at all: the same rows up to GEMM rounding.
    const auto trimmed = t5->forward(p.ids.narrow(1, 0, 7), p.mask.narrow(1, 0, 7));
    EXPECT_LT(conf::relative_l2(trimmed, out.narrow(1, 0, 7)),
              compute == model::T5Compute::Float32 ? 1e-5 : kTinyT5Bf16Noise);
  }
}

TEST(T5Encoder, PositionBiasMakesTheEncoderOrderAware) {
  torch::NoGradGuard no_grad;
  auto t5 = tiny_t5(model::T5Compute::Float32);
  const auto ids = at::tensor({5, 6, 7, 8}, at::kLong).view({1, 4});
  const auto mask = at::ones({1, 4}, at::kLong);
  const auto forward = t5->forward(ids, mask);
  const auto reversed = t5->forward(ids.flip(1), mask).flip(1);  // same tokens, positions mirrored
  EXPECT_GT(conf::relative_l2(reversed, forward), 1e-2);
}

TEST(T5Encoder, BatchedRowsEqualSingleCalls) {
  torch::NoGradGuard no_grad;
  auto t5 = tiny_t5();
  const auto a = prompt(10, 10, 1), b = prompt(10, 4, 2);
  const auto both = t5->forward(at::cat({a.ids, b.ids}), at::cat({a.mask, b.mask}));
  EXPECT_LT(conf::relative_l2(both.narrow(0, 0, 1), t5->forward(a.ids, a.mask)), kTinyT5Bf16Noise);
  EXPECT_LT(conf::relative_l2(both.narrow(0, 1, 1), t5->forward(b.ids, b.mask)), kTinyT5Bf16Noise);
  // In float32 the batch is exact up to GEMM blocking.
  t5->set_compute(model::T5Compute::Float32);
  const auto both32 = t5->forward(at::cat({a.ids, b.ids}), at::cat({a.mask, b.mask}));
  EXPECT_LT(conf::relative_l2(both32.narrow(0, 1, 1), t5->forward(b.ids, b.mask)), 1e-5);
}

TEST(T5Encoder, Bf16AutocastStaysCloseToFloat32) {
  torch::NoGradGuard no_grad;
  auto t5 = tiny_t5();
  const auto p = prompt(16, 11);
  t5->set_compute(model::T5Compute::Float32);
  const auto fp32 = t5->forward(p.ids, p.mask);
  t5->set_compute(model::T5Compute::Bf16Autocast);
  const auto bf16 = t5->forward(p.ids, p.mask);
  EXPECT_LT(conf::relative_l2(bf16, fp32), kTinyT5Bf16Noise);
  EXPECT_GT(conf::relative_l2(bf16, fp32), 0.0);  // the modes really differ
}

TEST(T5Encoder, RejectsBadInputs) {
  torch::NoGradGuard no_grad;
  auto t5 = tiny_t5();
  const auto p = prompt(6, 6);
  ErrorCode code{};
  EXPECT_NE(error_text([&] { t5->forward(p.ids.view(-1), p.mask.view(-1)); }, &code).find("[B, L]"), std::string::npos);
  EXPECT_EQ(code, ErrorCode::ShapeMismatch);
  EXPECT_THROW(t5->forward(p.ids, p.mask.narrow(1, 0, 5)), Error);
  EXPECT_THROW(t5->forward(p.ids.to(at::kFloat), p.mask), Error);
  auto bad = p.ids.clone();
  bad[0][2] = 50;  // vocab is 50
  EXPECT_NE(error_text([&] { t5->forward(bad, p.mask); }, &code).find("token id 50"), std::string::npos);
  EXPECT_EQ(code, ErrorCode::BadArgument);
}

// --- loading ---------------------------------------------------------------------------------------------

TEST(T5EncoderLoading, HfLayoutEqualsOfficialLayout) {
  torch::NoGradGuard no_grad;
  auto source = tiny_t5(model::T5Compute::Bf16Autocast, 9);
  const auto p = prompt(9, 6);
  const auto expected = source->forward(p.ids, p.mask);
  const auto tensors = state_dict(*source);
  TempDir dir;

  io::write_safetensors((dir / "official.safetensors").string(), tensors);
  auto official = model::load_t5_encoder((dir / "official.safetensors").string(), "", test_device());
  EXPECT_TRUE(at::equal(official->forward(p.ids, p.mask), expected));

  // HF names, with the tied embedding stored under both of its names, and HF's config.json.
  std::vector<std::pair<std::string, at::Tensor>> hf;
  for (const auto& [name, t] : tensors) {
    hf.emplace_back(to_hf(name), t);
    if (name == "token_embedding.weight") hf.emplace_back("encoder.embed_tokens.weight", t);
  }
  std::filesystem::create_directories(dir / "hf" / "text_encoder");
  io::write_safetensors((dir / "hf" / "text_encoder" / "model.safetensors").string(), hf);
  skyreels::test::write_file(dir / "hf" / "text_encoder" / "config.json",
                             R"({"model_type": "umt5", "num_heads": 4, "layer_norm_epsilon": 1e-6,
                                 "relative_attention_max_distance": 128})");
  auto from_hf = model::load_t5_encoder((dir / "hf" / "text_encoder" / "model.safetensors").string(),
                                        (dir / "hf" / "text_encoder" / "config.json").string(), test_device());
  EXPECT_TRUE(at::equal(from_hf->forward(p.ids, p.mask), expected));

  // Only encoder.embed_tokens.weight (no shared.weight) is fine too.
  std::vector<std::pair<std::string, at::Tensor>> embed_only;
  for (const auto& kv : hf)
    if (kv.first != "shared.weight") embed_only.push_back(kv);
  io::write_safetensors((dir / "embed_only.safetensors").string(), embed_only);
  auto from_embed_only = model::load_t5_encoder((dir / "embed_only.safetensors").string(), "", test_device());
  EXPECT_TRUE(at::equal(from_embed_only->forward(p.ids, p.mask), expected));

  EXPECT_EQ(model::t5_key_from_hf("encoder.block.13.layer.1.DenseReluDense.wi_0.weight"), "blocks.13.ffn.gate.0.weight");
  EXPECT_EQ(model::t5_key_from_hf("encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"),
            "blocks.0.pos_embedding.embedding.weight");
  EXPECT_EQ(model::t5_key_from_hf("lm_head.weight"), "lm_head.weight");
}

TEST(T5EncoderLoading, StrictAboutMissingUnexpectedAndMisshapedTensors) {
  auto source = tiny_t5();
  const auto tensors = state_dict(*source);
  auto load = [&](const std::vector<std::pair<std::string, at::Tensor>>& ts, std::optional<std::int64_t> heads = {}) {
    model::T5LoadOptions o;
    o.num_heads = heads;
    model::load_t5_encoder(io::memory_source(ts, "crafted T5"), test_device(), o);
  };
  ErrorCode code{};
  auto missing = tensors;
  missing.erase(std::find_if(missing.begin(), missing.end(), [](auto& kv) { return kv.first == "blocks.1.ffn.fc1.weight"; }));
  auto text = error_text([&] { load(missing); }, &code);
  EXPECT_NE(text.find("missing 1"), std::string::npos) << text;
  EXPECT_NE(text.find("blocks.1.ffn.fc1.weight"), std::string::npos) << text;
  EXPECT_EQ(code, ErrorCode::NotFound);

  auto unexpected = tensors;
  unexpected.emplace_back("lm_head.weight", at::zeros({50, 32}));
  text = error_text([&] { load(unexpected); });
  EXPECT_NE(text.find("unexpected 1"), std::string::npos) << text;
  EXPECT_NE(text.find("lm_head.weight"), std::string::npos) << text;

  auto misshaped = tensors;
  for (auto& kv : misshaped)
    if (kv.first == "blocks.0.attn.o.weight") kv.second = at::zeros({32, 16});
  text = error_text([&] { load(misshaped); }, &code);
  EXPECT_NE(text.find("blocks.0.attn.o.weight"), std::string::npos) << text;
  EXPECT_EQ(code, ErrorCode::ShapeMismatch);

  text = error_text([&] { load(tensors, 8); }, &code);  // the tables say 4 heads
  EXPECT_NE(text.find("8 heads"), std::string::npos) << text;
  EXPECT_EQ(code, ErrorCode::ShapeMismatch);

  // Not a T5 checkpoint at all.
  text = error_text([&] { load({{"patch_embedding.weight", at::zeros({4})}}); }, &code);
  EXPECT_NE(text.find("token_embedding.weight"), std::string::npos) << text;
  EXPECT_EQ(code, ErrorCode::NotFound);

  // HF file whose two embedding tables disagree.
  std::vector<std::pair<std::string, at::Tensor>> hf;
  for (const auto& [name, t] : tensors) hf.emplace_back(to_hf(name), t);
  hf.emplace_back("encoder.embed_tokens.weight", at::zeros({49, 32}));
  text = error_text([&] { load(hf); }, &code);
  EXPECT_NE(text.find("encoder.embed_tokens.weight"), std::string::npos) << text;
  EXPECT_EQ(code, ErrorCode::CorruptFile);

  // T5 (not umT5) with one shared position table.
  auto shared_pos = tensors;
  shared_pos.emplace_back("pos_embedding.embedding.weight", at::zeros({32, 4}));
  text = error_text([&] { load(shared_pos); }, &code);
  EXPECT_EQ(code, ErrorCode::Unsupported) << text;
}
