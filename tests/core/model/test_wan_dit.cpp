#include <filesystem>
#include <regex>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/checks.h"
#include "conformance/metrics.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/attention.h"
#include "model/rope.h"
#include "model/wan_dit.h"
#include "model/weights.h"
#include "skyreels/conformance.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace conf = skyreels::conformance;
namespace io = skyreels::io;
namespace model = skyreels::model;
using skyreels::Error;
using skyreels::test::fixture_case;
using skyreels::test::TempDir;
using skyreels::test::test_device;

namespace {

model::WanDitConfig tiny_config(bool fps = true) {
  model::WanDitConfig c;
  c.dim = 64;
  c.ffn_dim = 96;
  c.text_dim = 32;
  c.num_heads = 2;
  c.num_layers = 2;
  c.inject_sample_info = fps;
  return c;
}

model::WanDit tiny_dit(bool fps = true, std::uint64_t seed = 7) {
  model::WanDit dit(tiny_config(fps), at::TensorOptions().device(test_device()).dtype(at::kBFloat16));
  model::randomize_weights(*dit, seed, 0.1);
  return dit;
}

std::vector<std::pair<std::string, at::Tensor>> state_dict(torch::nn::Module& m) {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& p : m.named_parameters(true)) out.emplace_back(p.key(), p.value().cpu());
  return out;
}

// The diffusers names of the official keys, written out independently of the loader's table.
std::string to_diffusers(std::string key) {
  const std::vector<std::pair<std::string, std::string>> rules = {
      {R"(^time_embedding\.0\.)", "condition_embedder.time_embedder.linear_1."},
      {R"(^time_embedding\.2\.)", "condition_embedder.time_embedder.linear_2."},
      {R"(^text_embedding\.0\.)", "condition_embedder.text_embedder.linear_1."},
      {R"(^text_embedding\.2\.)", "condition_embedder.text_embedder.linear_2."},
      {R"(^time_projection\.1\.)", "condition_embedder.time_proj."},
      {R"(^head\.modulation$)", "scale_shift_table"},
      {R"(^head\.head\.)", "proj_out."},
      {R"(\.modulation$)", ".scale_shift_table"},
      {R"(\.ffn\.0\.)", ".ffn.net.0.proj."},
      {R"(\.ffn\.2\.)", ".ffn.net.2."},
      {R"(\.self_attn\.o\.)", ".attn1.to_out.0."},
      {R"(\.self_attn\.([qkv])\.)", ".attn1.to_$1."},
      {R"(\.self_attn\.)", ".attn1."},
      {R"(\.cross_attn\.o\.)", ".attn2.to_out.0."},
      {R"(\.cross_attn\.([qkv])\.)", ".attn2.to_$1."},
      {R"(\.cross_attn\.)", ".attn2."},
      {R"(\.norm3\.)", ".norm2."},
  };
  for (const auto& [pattern, replacement] : rules) {
    const std::regex re(pattern);
    if (std::regex_search(key, re)) return std::regex_replace(key, re, replacement);
  }
  return key;
}

struct Inputs {
  at::Tensor x, t, context;
};

Inputs tiny_inputs(int batch = 1, int frames = 3) {
  at::manual_seed(11);
  const auto d = test_device();
  return {at::randn({1, 16, frames, 4, 6}).to(d, at::kBFloat16), at::tensor({999, 800, 500}, at::kLong).narrow(0, 0, frames).to(d),
          at::randn({batch, 5, 32}).to(d, at::kBFloat16)};
}

}  // namespace

TEST(WanDit, FixtureDfFpsPasses) {
  const auto r = conf::run_case(fixture_case("dit_df_fps").string(), skyreels::test::check_options());
  ASSERT_EQ(r.status, conf::CaseStatus::Passed) << r.message << (r.metrics.empty() ? "" : " error " + std::to_string(r.metrics[0].value));
}

TEST(WanDit, FixtureWanScalarTimestepPasses) {
  const auto r = conf::run_case(fixture_case("dit_wan_scalar_t").string(), skyreels::test::check_options());
  ASSERT_EQ(r.status, conf::CaseStatus::Passed) << r.message << (r.metrics.empty() ? "" : " error " + std::to_string(r.metrics[0].value));
}

// The official --causal_attention: the manifest's causal_block_size reaches the forward (the reference masks densely).
TEST(WanDit, FixtureCausalBlockAttentionPasses) {
  const auto r = conf::run_case(fixture_case("dit_causal_block2").string(), skyreels::test::check_options());
  ASSERT_EQ(r.status, conf::CaseStatus::Passed) << r.message << (r.metrics.empty() ? "" : " error " + std::to_string(r.metrics[0].value));
}

// Bisects against the reference's intermediate tensors: embeddings and every block's output.
TEST(WanDit, IntermediatesMatchTheReference) {
  torch::NoGradGuard no_grad;
  const auto dir = fixture_case("dit_df_fps");
  conf::FixtureCase fixture(dir);
  auto file = std::make_shared<io::SafetensorsFile>((dir / "tensors.safetensors").string());
  auto dit = conf::load_fixture_dit(io::prefixed_view(io::safetensors_source(file), "w."), fixture.manifest().at("config"),
                                    test_device());
  const auto x = fixture.tensor("in.x").to(test_device());
  const auto t = fixture.tensor("in.t").to(test_device());
  const auto context = fixture.tensor("in.context").to(test_device());

  const auto patches = dit->patch_embedding(x);  // [1, F, HW, dim]
  const auto ref_patches = fixture.tensor("mid.patch_embedding").flatten(3).transpose(1, 2).transpose(2, 3);
  EXPECT_LT(conf::relative_l2(patches.view(ref_patches.sizes()), ref_patches), 1e-2);
  EXPECT_LT(conf::relative_l2(dit->embed_text(context), fixture.tensor("mid.text_embedding")), 1e-2);
  const auto [e, e0] = dit->embed_time(t, 1);
  EXPECT_LT(conf::relative_l2(e, fixture.tensor("mid.time_embedding")), 1e-4);
  // mid.time_projection is the projection before the fps term.
  const auto projected = dit->time_projection->forward(e);
  EXPECT_LT(conf::relative_l2(projected, fixture.tensor("mid.time_projection")), 1e-4);
}

TEST(WanDit, BatchedCfgEqualsTwoSingleCalls) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs(2);
  const auto both = dit->forward(in.x, in.t, in.context, 1);
  ASSERT_EQ(both.sizes(), (std::vector<std::int64_t>{2, 16, 3, 4, 6}));
  for (int b = 0; b < 2; ++b) {
    const auto single = dit->forward(in.x, in.t, in.context.narrow(0, b, 1), 1);
    EXPECT_LT(conf::relative_l2(both.narrow(0, b, 1), single), skyreels::test::kBf16NoiseRelL2) << "batch " << b;
  }
  // The two streams really differ (the test would be vacuous otherwise).
  EXPECT_GT(conf::relative_l2(both.narrow(0, 0, 1), both.narrow(0, 1, 1)), 1e-2);
}

TEST(WanDit, StepCacheReuseAddsTheBlocksLastResidual) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs(2);
  const auto tokens_per_frame = (in.x.size(3) / 2) * (in.x.size(4) / 2);  // the tiny DiT's 2x2 patches
  const auto time = dit->time_embedding_for(in.t, in.x.size(2), tokens_per_frame, 1, {});
  model::BlockReuse keep;
  keep.keep_residual = true;
  const auto computed = dit->forward_embedded(in.x, time, in.context, {}, keep);
  ASSERT_TRUE(computed.block_residual.defined());
  EXPECT_FALSE(computed.reused);
  EXPECT_TRUE(at::equal(computed.v, dit->forward(in.x, in.t, in.context, 1)));  // keeping it changes nothing
  model::BlockReuse reuse;
  reuse.residual = computed.block_residual;
  const auto reused = dit->forward_embedded(in.x, time, in.context, {}, reuse);
  EXPECT_TRUE(reused.reused);
  EXPECT_LT(conf::relative_l2(reused.v, computed.v), skyreels::test::kBf16NoiseRelL2);
  // Reused for other latents, the head sees new tokens plus the old residual: not the exact output.
  const auto x2 = at::randn_like(in.x);
  EXPECT_GT(conf::relative_l2(dit->forward_embedded(x2, time, in.context, {}, reuse).v, dit->forward(x2, in.t, in.context, 1)),
            1e-2);
  // A residual of another shape (another window) is not added: the blocks run.
  model::BlockReuse stale;
  stale.residual = computed.block_residual.narrow(1, 0, 1);
  EXPECT_FALSE(dit->forward_embedded(in.x, time, in.context, {}, stale).reused);
}

TEST(WanDit, PrecomputedTimeEmbeddingIsTheSameCall) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs(2);
  const auto frames = in.x.size(2), tokens = (in.x.size(3) / 2) * (in.x.size(4) / 2);
  model::WanDitCall per_token;
  per_token.per_token_modulation = true;
  for (const auto& call : {model::WanDitCall{}, per_token}) {
    const auto time = dit->time_embedding_for(in.t, frames, tokens, 1, call);
    EXPECT_EQ(time.e0.size(0), call.per_token_modulation ? frames * tokens : frames);
    EXPECT_TRUE(at::equal(dit->forward_embedded(in.x, time, in.context, call).v, dit->forward(in.x, in.t, in.context, 1, call)));
  }
  // A time embedding of another length is a shape error, not a silent broadcast.
  const auto wrong = dit->embed_time(in.t.narrow(0, 0, 2), 1);
  EXPECT_THROW(dit->forward_embedded(in.x, wrong, in.context), Error);
}

TEST(WanDit, Fp8ForwardStaysCloseToBf16) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs(2);
  if (const auto why = model::fp8_unsupported_reason(test_device()); !why.empty()) {
    skyreels::ErrorCode code{};
    EXPECT_NE(skyreels::test::error_text([&] { dit->quantize_fp8(); }, &code).find("float8"), std::string::npos);
    EXPECT_EQ(code, skyreels::ErrorCode::Unsupported);
    EXPECT_FALSE(dit->fp8());
    GTEST_SKIP() << why;
  }
  const auto exact = dit->forward(in.x, in.t, in.context, 1);
  dit->quantize_fp8();
  ASSERT_TRUE(dit->fp8());
  const auto fp8 = dit->forward(in.x, in.t, in.context, 1);
  // e4m3 keeps 3 mantissa bits (2^-4 relative per value); a wrong scale or layout is off by ~100 %.
  const double rel = conf::relative_l2(fp8, exact);
  EXPECT_LT(rel, 0.25);
  EXPECT_GT(rel, 0.0);
}

TEST(WanDit, ScalarTimestepEqualsRepeatedPerFrameTimestep) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs();
  const auto scalar = dit->forward(in.x, at::tensor({700}, at::kLong), in.context, 0);
  const auto per_frame = dit->forward(in.x, at::tensor({700, 700, 700}, at::kLong), in.context, 0);
  EXPECT_TRUE(at::allclose(scalar, per_frame, 1e-5, 1e-5));
  const auto mixed = dit->forward(in.x, at::tensor({700, 700, 100}, at::kLong), in.context, 0);
  EXPECT_FALSE(at::allclose(scalar, mixed, 1e-3, 1e-3));
}

// The reference path's per-token float32 tables hold the same rows as the per-frame ones, chunked or not.
TEST(WanDit, PerTokenModulationEqualsPerFrame) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs(2);
  const auto fast = dit->forward(in.x, in.t, in.context, 1);
  model::WanDitCall reference;
  reference.per_token_modulation = true;
  for (std::int64_t chunk : {0, 24}) {  // whole sequence; two frames of 12 tokens (batch 2) per chunk
    reference.chunk_tokens = chunk;
    const auto slow = dit->forward(in.x, in.t, in.context, 1, reference);
    EXPECT_LT(conf::relative_l2(slow, fast), skyreels::test::kBf16NoiseRelL2) << "chunk " << chunk;
  }
  // A scalar timestep too.
  const auto t = at::tensor({500}, at::kLong);
  EXPECT_LT(conf::relative_l2(dit->forward(in.x, t, in.context, 1, reference), dit->forward(in.x, t, in.context, 1)),
            skyreels::test::kBf16NoiseRelL2);
}

TEST(WanDit, BlockCausalModeHidesLaterFrames) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  auto in = tiny_inputs();
  model::WanDitCall causal;
  causal.causal_block_frames = 1;
  const auto before = dit->forward(in.x, in.t, in.context, 1, causal);
  auto changed = in.x.clone();
  changed.select(2, 2).normal_();
  const auto after = dit->forward(changed, in.t, in.context, 1, causal);
  // Frames 0 and 1 cannot see frame 2; frame 2 itself changes.
  EXPECT_TRUE(at::equal(before.narrow(2, 0, 2), after.narrow(2, 0, 2)));
  EXPECT_FALSE(at::equal(before.select(2, 2), after.select(2, 2)));
  // Bidirectional (the default) does let frame 2 influence frame 0.
  const auto full_before = dit->forward(in.x, in.t, in.context, 1);
  const auto full_after = dit->forward(changed, in.t, in.context, 1);
  EXPECT_FALSE(at::equal(full_before.select(2, 0), full_after.select(2, 0)));
}

TEST(WanDit, SelfAttentionProbeSeesEachBlocksInputsOnceAndChangesNothing) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs(2);
  const auto plain = dit->forward(in.x, in.t, in.context, 1);
  std::vector<std::vector<at::Tensor>> seen;
  model::WanDitCall call;
  call.self_attention_probe = [&](const at::Tensor& q, const at::Tensor& k, const at::Tensor& v) {
    seen.push_back({q.clone(), k.clone(), v.clone()});
  };
  EXPECT_TRUE(at::equal(dit->forward(in.x, in.t, in.context, 1, call), plain));
  ASSERT_EQ(seen.size(), 2u);  // one call a block
  for (const auto& qkv : seen)
    for (const auto& t : qkv) {
      EXPECT_EQ(t.sizes(), (std::vector<std::int64_t>{2, 3 * 2 * 3, 2, 32}));  // [B, frames x tokens, heads, head dim]
      EXPECT_EQ(t.scalar_type(), at::kBFloat16);
    }
  EXPECT_FALSE(at::equal(seen[0][0], seen[1][0]));  // each block's own projections
  // Block-causal attention makes several calls a block; the probe still sees the whole block once.
  seen.clear();
  call.causal_block_frames = 1;
  dit->forward(in.x, in.t, in.context, 1, call);
  EXPECT_EQ(seen.size(), 2u);
}

TEST(Attention, BlockCausalEqualsMaskedDenseAttention) {
  at::manual_seed(3);
  const int64_t tokens_per_frame = 4, frames = 6, cbs = 2;
  const auto q = at::randn({1, frames * tokens_per_frame, 2, 8});
  const auto k = at::randn_like(q), v = at::randn_like(q);
  const auto out = model::block_causal_attention(q, k, v, 0.3, tokens_per_frame, cbs);
  // Dense reference with an explicit mask: key frame block <= query frame block.
  const auto frame = at::arange(frames * tokens_per_frame).div(tokens_per_frame, "floor").div(cbs, "floor");
  const auto allowed = frame.unsqueeze(1) >= frame.unsqueeze(0);  // [Lq, Lk]
  auto scores = at::einsum("bqhd,bkhd->bhqk", {q, k}) * 0.3;
  scores = scores.masked_fill(allowed.logical_not(), -std::numeric_limits<float>::infinity());
  const auto expected = at::einsum("bhqk,bkhd->bqhd", {at::softmax(scores, -1), v});
  EXPECT_TRUE(at::allclose(out, expected, 1e-5, 1e-5));
}

TEST(Attention, MathPathMatchesTheDefaultBackend) {
  at::manual_seed(4);
  const auto q = at::randn({2, 37, 3, 16}).to(test_device(), at::kBFloat16);
  const auto k = at::randn({2, 29, 3, 16}).to(test_device(), at::kBFloat16);
  const auto v = at::randn({2, 29, 3, 16}).to(test_device(), at::kBFloat16);
  EXPECT_LT(conf::relative_l2(model::attention(q, k, v, 0.25), model::attention_math(q, k, v, 0.25)), 1e-2);
}

TEST(Rope3d, SplitsHeadChannelsAsTheReference) {
  model::Rope3d rope(128);
  EXPECT_EQ(rope.frame_channels(), 22);
  EXPECT_EQ(rope.spatial_channels(), 21);
  model::Rope3d small(64);
  EXPECT_EQ(small.frame_channels(), 12);
  EXPECT_EQ(small.spatial_channels(), 10);
  // Token (f=1, h=0, w=0) rotates only frame channels; (0, 0, 1) only the last block of channels.
  const auto table = rope.table(2, 3, 4, at::kCPU);
  const auto token_f1 = table.sin[12];
  EXPECT_GT(token_f1.narrow(0, 0, 22).abs().sum().item<float>(), 0.1f);
  EXPECT_EQ(token_f1.narrow(0, 22, 42).abs().sum().item<float>(), 0.0f);
  const auto token_w1 = table.sin[1];
  EXPECT_EQ(token_w1.narrow(0, 0, 43).abs().sum().item<float>(), 0.0f);
  EXPECT_GT(token_w1.narrow(0, 43, 21).abs().sum().item<float>(), 0.1f);
}

// --- loading ---------------------------------------------------------------------------------------

TEST(WanDitLoading, OfficialAndDiffusersLayoutsGiveTheSameModel) {
  torch::NoGradGuard no_grad;
  auto source = tiny_dit(true, 21);
  const auto in = tiny_inputs();
  const auto expected = source->forward(in.x, in.t, in.context, 1);
  TempDir dir;
  const auto tensors = state_dict(*source);

  std::filesystem::create_directories(dir / "official");
  io::write_safetensors((dir / "official" / "model.safetensors").string(), tensors);
  skyreels::test::write_file(dir / "official" / "config.json", R"({"num_heads": 2, "dim": 64, "num_layers": 2})");
  auto official = model::load_wan_dit((dir / "official" / "model.safetensors").string(),
                                      (dir / "official" / "config.json").string(), test_device());
  EXPECT_TRUE(at::equal(official->forward(in.x, in.t, in.context, 1), expected));

  // Diffusers: renamed keys in two shards with an index, under transformer/.
  const auto folder = dir / "diffusers" / "transformer";
  std::filesystem::create_directories(folder);
  std::vector<std::pair<std::string, at::Tensor>> shard1, shard2;
  nlohmann::json index = {{"metadata", nlohmann::json::object()}, {"weight_map", nlohmann::json::object()}};
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const auto name = to_diffusers(tensors[i].first);
    auto& shard = i % 2 ? shard2 : shard1;
    shard.emplace_back(name, tensors[i].second);
    index["weight_map"][name] = i % 2 ? "diffusion_pytorch_model-00002-of-00002.safetensors"
                                      : "diffusion_pytorch_model-00001-of-00002.safetensors";
  }
  io::write_safetensors((folder / "diffusion_pytorch_model-00001-of-00002.safetensors").string(), shard1);
  io::write_safetensors((folder / "diffusion_pytorch_model-00002-of-00002.safetensors").string(), shard2);
  skyreels::test::write_file(folder / "diffusion_pytorch_model.safetensors.index.json", index.dump());
  skyreels::test::write_file(folder / "config.json", R"({"num_attention_heads": 2, "attention_head_dim": 32})");
  auto diffusers = model::load_wan_dit((folder / "diffusion_pytorch_model.safetensors.index.json").string(),
                                       (folder / "config.json").string(), test_device());
  EXPECT_TRUE(at::equal(diffusers->forward(in.x, in.t, in.context, 1), expected));
}

TEST(WanDitLoading, StrictAboutMissingUnexpectedAndMisshapedTensors) {
  auto source = tiny_dit(false);
  auto tensors = state_dict(*source);
  auto expect_error = [&](const std::vector<std::pair<std::string, at::Tensor>>& ts, const std::vector<std::string>& fragments) {
    TempDir dir;
    io::write_safetensors((dir / "model.safetensors").string(), ts);
    skyreels::test::write_file(dir / "config.json", R"({"num_heads": 2})");
    try {
      model::load_wan_dit((dir / "model.safetensors").string(), (dir / "config.json").string(), test_device());
      FAIL() << "expected a loading error";
    } catch (const Error& e) {
      for (const auto& f : fragments) EXPECT_NE(std::string(e.what()).find(f), std::string::npos) << e.what();
    }
  };
  auto missing = tensors;
  missing.erase(std::find_if(missing.begin(), missing.end(), [](auto& kv) { return kv.first == "blocks.1.norm3.bias"; }));
  expect_error(missing, {"missing 1", "blocks.1.norm3.bias"});
  auto unexpected = tensors;
  unexpected.emplace_back("blocks.0.extra.weight", at::zeros({3}));
  expect_error(unexpected, {"unexpected 1", "blocks.0.extra.weight"});
  auto misshaped = tensors;
  for (auto& kv : misshaped)
    if (kv.first == "blocks.0.cross_attn.k.bias") kv.second = at::zeros({65}, at::kBFloat16);
  expect_error(misshaped, {"wrong shape 1", "blocks.0.cross_attn.k.bias", "[65]"});
}

// A source that records which tensors were read, in order.
class RecordingSource : public io::TensorSource {
public:
  explicit RecordingSource(io::TensorSourcePtr inner) : inner_(std::move(inner)) {}
  std::vector<std::string> keys() const override { return inner_->keys(); }
  bool contains(const std::string& key) const override { return inner_->contains(key); }
  std::vector<std::int64_t> shape(const std::string& key) const override { return inner_->shape(key); }
  at::Tensor tensor(const std::string& key) const override {
    read.push_back(key);
    return inner_->tensor(key);
  }
  std::string describe() const override { return inner_->describe(); }
  mutable std::vector<std::string> read;

private:
  io::TensorSourcePtr inner_;
};

TEST(WanDitLoading, BlockByBlockLoadGivesTheSameModelWithEachBlockFilledOnTheDevice) {
  torch::NoGradGuard no_grad;
  auto source = tiny_dit(true, 23);
  const auto in = tiny_inputs();
  const auto expected = source->forward(in.x, in.t, in.context, 1);
  TempDir dir;
  const auto tensors = state_dict(*source);
  io::write_safetensors((dir / "model.safetensors").string(), tensors);
  const auto weights = std::make_shared<RecordingSource>(io::open_weights((dir / "model.safetensors").string()));

  std::size_t blocks = 0;
  auto loaded = model::load_wan_dit_by_block(weights, tiny_config(true), test_device(), [&](model::WanAttentionBlockImpl& b) {
    // The hook sees its block filled and on the device, and no later block has been read yet.
    const auto next = "blocks." + std::to_string(blocks + 1) + ".";
    for (const auto& key : weights->read) EXPECT_NE(key.rfind(next, 0), 0u) << key << " read before block " << blocks;
    EXPECT_EQ(b.self_attn->q->weight.device().type(), test_device().type());
    EXPECT_TRUE(at::equal(b.ffn[0]->as<model::LinearImpl>()->weight.cpu(),
                          weights->tensor("blocks." + std::to_string(blocks) + ".ffn.0.weight")));
    ++blocks;
  });
  EXPECT_EQ(blocks, 2u);
  for (const auto& p : loaded->named_parameters()) EXPECT_EQ(p.value().device().type(), test_device().type()) << p.key();
  EXPECT_TRUE(at::equal(loaded->forward(in.x, in.t, in.context, 1), expected));

  // Weights that do not fit fail before any block is filled.
  auto missing = tensors;
  missing.pop_back();
  io::write_safetensors((dir / "missing.safetensors").string(), missing);
  blocks = 0;
  EXPECT_THROW(model::load_wan_dit_by_block(io::open_weights((dir / "missing.safetensors").string()), tiny_config(true),
                                            test_device(), [&](model::WanAttentionBlockImpl&) { ++blocks; }),
               Error);
  EXPECT_EQ(blocks, 0u);
}

TEST(WanDitLoading, Fp8LoadConvertsTheBlocksOrSaysWhyNot) {
  torch::NoGradGuard no_grad;
  auto source = tiny_dit(true, 29);
  const auto in = tiny_inputs(2);
  const auto exact = source->forward(in.x, in.t, in.context, 1);
  TempDir dir;
  io::write_safetensors((dir / "model.safetensors").string(), state_dict(*source));
  skyreels::test::write_file(dir / "config.json", R"({"num_heads": 2, "dim": 64, "num_layers": 2})");
  if (const auto why = model::fp8_unsupported_reason(test_device()); !why.empty()) {
    skyreels::ErrorCode code{};
    const auto message =
        skyreels::test::error_text([&] { model::load_wan_dit((dir / "model.safetensors").string(), (dir / "config.json").string(), test_device(), /*fp8=*/true); }, &code);
    EXPECT_EQ(code, skyreels::ErrorCode::Unsupported);
    EXPECT_NE(message.find("float8"), std::string::npos) << message;
    GTEST_SKIP() << why;
  }
  auto loaded = model::load_wan_dit((dir / "model.safetensors").string(), (dir / "config.json").string(), test_device(), /*fp8=*/true);
  ASSERT_TRUE(loaded->fp8());
  // The same conversion as quantize_fp8 on a loaded bf16 model: the same codes, so the same result up
  // to the GPU's run-to-run order (a wrong conversion is off by e4m3's few percent or more).
  source->quantize_fp8();
  const auto converted = source->forward(in.x, in.t, in.context, 1);
  EXPECT_LT(conf::relative_l2(loaded->forward(in.x, in.t, in.context, 1), converted), 1e-3);
  EXPECT_LT(conf::relative_l2(converted, exact), 0.25);
}

TEST(WanDitLoading, EmptyAxesAndImpossibleBlocksAreErrorsNotCrashes) {
  auto source = tiny_dit(false);
  // An empty patch axis once divided by zero (SIGFPE) while the config was detected.
  auto tensors = state_dict(*source);
  for (auto& [name, t] : tensors)
    if (name == "patch_embedding.weight") t = at::zeros({t.size(0), t.size(1), 0, t.size(3), t.size(4)});
  skyreels::ErrorCode code{};
  auto text = skyreels::test::error_text(
      [&] { model::WanDitConfig::detect(*io::memory_source(tensors, "crafted DiT")); }, &code);
  EXPECT_EQ(code, skyreels::ErrorCode::ShapeMismatch);
  EXPECT_NE(text.find("patch_t"), std::string::npos) << text;
  // A block index past any real model once threw std::out_of_range from stoi ("generate: stoi").
  tensors = state_dict(*source);
  tensors.emplace_back("blocks.99999999999.x", at::zeros({1}));
  text = skyreels::test::error_text([&] { model::WanDitConfig::detect(*io::memory_source(tensors, "crafted DiT")); }, &code);
  EXPECT_EQ(code, skyreels::ErrorCode::CorruptFile);
  EXPECT_NE(text.find("blocks.99999999999.x"), std::string::npos) << text;
}

TEST(WanDitLoading, ConfigThatDisagreesWithTheWeightsIsAnError) {
  auto source = tiny_dit(false);
  TempDir dir;
  io::write_safetensors((dir / "model.safetensors").string(), state_dict(*source));
  skyreels::test::write_file(dir / "config.json", R"({"num_heads": 2, "num_layers": 30})");
  try {
    model::load_wan_dit((dir / "model.safetensors").string(), (dir / "config.json").string(), test_device());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("num_layers"), std::string::npos) << e.what();
  }
  skyreels::test::write_file(dir / "config.json", R"({"num_heads": 3})");  // 64 not divisible by 3
  EXPECT_THROW(model::load_wan_dit((dir / "model.safetensors").string(), (dir / "config.json").string(), test_device()), Error);
}

TEST(WanDit, RejectsWrongInputShapes) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs();
  EXPECT_THROW(dit->forward(in.x.narrow(1, 0, 8), in.t, in.context), Error);       // channels
  EXPECT_THROW(dit->forward(in.x.narrow(3, 0, 3), in.t, in.context), Error);       // odd height
  EXPECT_THROW(dit->forward(in.x, in.t.narrow(0, 0, 2), in.context), Error);       // timesteps
  EXPECT_THROW(dit->forward(in.x, in.t, in.context.narrow(2, 0, 16)), Error);      // text dim
  EXPECT_THROW(dit->forward(in.x, in.t, in.context, 5), Error);                    // fps index
}

TEST(WanDit, FrameChunkingDoesNotChangeTheResult) {
  torch::NoGradGuard no_grad;
  auto dit = tiny_dit();
  const auto in = tiny_inputs(2);
  model::WanDitCall whole, per_frame;
  whole.chunk_tokens = 0;
  per_frame.chunk_tokens = 1;  // one frame per chunk
  const auto a = dit->forward(in.x, in.t, in.context, 1, whole);
  const auto b = dit->forward(in.x, in.t, in.context, 1, per_frame);
  EXPECT_LT(conf::relative_l2(b, a), skyreels::test::kBf16NoiseRelL2);
  EXPECT_EQ(model::FrameChunks(25, 4080, 16384).size(), 7u);  // 4 frames a chunk at 540P, batch 2
  EXPECT_EQ(model::FrameChunks(3, 100, 0).size(), 1u);
}

TEST(Attention, BackendNamesAreParsedStrictly) {
  EXPECT_EQ(model::parse_attention_backend("cudnn"), model::AttentionBackend::CuDNN);
  EXPECT_EQ(model::parse_attention_backend("auto"), model::AttentionBackend::Auto);
  EXPECT_THROW(model::parse_attention_backend("fastest"), Error);
  EXPECT_NO_THROW(model::set_attention_backend(model::AttentionBackend::Auto));
}
