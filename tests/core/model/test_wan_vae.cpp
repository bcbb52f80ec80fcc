#include <filesystem>
#include <regex>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/metrics.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/wan_vae.h"
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

io::TensorSourcePtr fixture_weights() {
  auto file = std::make_shared<io::SafetensorsFile>((fixture_case("vae_fp32") / "tensors.safetensors").string());
  return io::prefixed_view(io::safetensors_source(file), "w.");
}

model::WanVae fixture_vae(at::ScalarType dtype = at::kFloat) {
  return model::load_wan_vae(fixture_weights(), test_device(), dtype);
}

at::Tensor random_latents(std::int64_t frames, std::int64_t h = 4, std::int64_t w = 6) {
  at::manual_seed(17);
  return at::randn({1, 16, frames, h, w});
}

// The diffusers names of the official VAE keys, written independently of the loader's table.
std::string to_diffusers(const std::string& key) {
  std::smatch m;
  std::string out = key;
  static const std::regex up(R"(^decoder\.upsamples\.(\d+)\.(.*)$)");
  if (std::regex_match(key, m, up)) {
    const int i = std::stoi(m[1]);
    out = (i % 4 == 3) ? "decoder.up_blocks." + std::to_string(i / 4) + ".upsamplers.0." + m[2].str()
                       : "decoder.up_blocks." + std::to_string(i / 4) + ".resnets." + std::to_string(i % 4) + "." + m[2].str();
  }
  const std::vector<std::pair<std::string, std::string>> rules = {
      {R"(^conv1\.)", "quant_conv."},
      {R"(^conv2\.)", "post_quant_conv."},
      {R"(^(encoder|decoder)\.conv1\.)", "$1.conv_in."},
      {R"(^(encoder|decoder)\.head\.0\.)", "$1.norm_out."},
      {R"(^(encoder|decoder)\.head\.2\.)", "$1.conv_out."},
      {R"(\.middle\.0\.)", ".mid_block.resnets.0."},
      {R"(\.middle\.1\.)", ".mid_block.attentions.0."},
      {R"(\.middle\.2\.)", ".mid_block.resnets.1."},
      {R"(^encoder\.downsamples\.)", "encoder.down_blocks."},
      {R"(\.residual\.0\.)", ".norm1."},
      {R"(\.residual\.2\.)", ".conv1."},
      {R"(\.residual\.3\.)", ".norm2."},
      {R"(\.residual\.6\.)", ".conv2."},
      {R"(\.shortcut\.)", ".conv_shortcut."},
  };
  for (const auto& [pattern, replacement] : rules) out = std::regex_replace(out, std::regex(pattern), replacement);
  return out;
}

}  // namespace

TEST(WanVae, FixtureFp32Passes) {
  const auto r = conf::run_case(fixture_case("vae_fp32").string(), skyreels::test::check_options());
  ASSERT_EQ(r.status, conf::CaseStatus::Passed) << r.message;
}

TEST(WanVae, FixtureBf16AutocastPasses) {
  const auto r = conf::run_case(fixture_case("vae_bf16_autocast").string(), skyreels::test::check_options());
  ASSERT_EQ(r.status, conf::CaseStatus::Passed) << r.message;
}

TEST(WanVae, FrameCountsFollowTheCausalRule) {
  torch::NoGradGuard no_grad;
  auto vae = fixture_vae();
  EXPECT_EQ(vae->decode(random_latents(1)).size(2), 1);
  EXPECT_EQ(vae->decode(random_latents(3)).size(2), 9);
  const auto video = at::rand({1, 3, 9, 32, 48}) * 2 - 1;
  EXPECT_EQ(vae->encode(video).sizes(), (std::vector<std::int64_t>{1, 16, 3, 4, 6}));
  EXPECT_THROW(vae->encode(video.narrow(2, 0, 8)), Error);   // not 1 + 4k frames
  EXPECT_THROW(vae->encode(video.narrow(3, 0, 30)), Error);  // height not a multiple of 8
  EXPECT_THROW(vae->decode(at::zeros({1, 8, 2, 4, 6})), Error);
}

// The encoder continued through its cache (what the trainer's history does): a video encoded in parts
// gives the latents of one encode; a continuation takes 4k frames, a fresh start 1 + 4k.
TEST(WanVae, ContinuedEncodeEqualsOneEncode) {
  torch::NoGradGuard no_grad;
  auto vae = fixture_vae();
  at::manual_seed(5);
  const auto video = (at::rand({1, 3, 13, 32, 48}) * 2 - 1).to(test_device());
  const auto whole = vae->moments(video);
  model::CausalCache cache;
  const auto first = vae->moments(video.narrow(2, 0, 5), cache);
  EXPECT_THROW(vae->moments(video.narrow(2, 5, 5), cache), Error);  // 5 frames cannot continue
  const auto rest = vae->moments(video.narrow(2, 5, 8), cache);
  const auto parts = at::cat({first, rest}, 2);
  ASSERT_EQ(parts.sizes(), whole.sizes());
  if (test_device().is_cuda())
    EXPECT_LT(conf::relative_l2(parts, whole), 1e-5);
  else
    EXPECT_TRUE(at::equal(parts, whole));
  // Without the cache the continuation is another computation (its first chunk a single frame).
  model::CausalCache fresh;
  EXPECT_THROW(vae->moments(video.narrow(2, 5, 8), fresh), Error);
}

// Streaming: any split of the latents gives bitwise the frames of one decode (CPU, float32).
TEST(WanVae, StreamingDecodeEqualsOneDecode) {
  torch::NoGradGuard no_grad;
  auto vae = fixture_vae();
  const auto z = random_latents(6).to(test_device());
  const auto whole = vae->decode(z);
  for (const std::vector<std::int64_t>& split : {std::vector<std::int64_t>{1, 1, 1, 1, 1, 1},
                                                 std::vector<std::int64_t>{1, 5}, std::vector<std::int64_t>{2, 3, 1}}) {
    model::VaeDecodeSession session(vae);
    std::vector<at::Tensor> parts;
    std::int64_t start = 0;
    for (auto n : split) {
      parts.push_back(session.decode(z.narrow(2, start, n)));
      start += n;
      EXPECT_EQ(session.frames_done(), 1 + 4 * (start - 1));
      EXPECT_EQ(parts.back().size(2), start == n ? 1 + 4 * (n - 1) : 4 * n);
    }
    const auto streamed = at::cat(parts, 2);
    if (test_device().is_cuda())
      EXPECT_LT(conf::relative_l2(streamed, whole), 1e-5);
    else
      EXPECT_TRUE(at::equal(streamed, whole)) << "split of " << split.size() << " calls";
  }
}

TEST(WanVae, TilingIsExactWhenTheLatentFitsAndBlendsOtherwise) {
  torch::NoGradGuard no_grad;
  auto vae = fixture_vae();
  const auto z = random_latents(2, 12, 16).to(test_device());
  const auto whole = vae->decode(z);
  model::VaeDecodeSession fits(vae, {16, 4});
  EXPECT_TRUE(at::equal(fits.decode(z), whole));
  model::VaeDecodeSession tiled(vae, {8, 4});  // 2 x 3 tiles
  const auto blended = tiled.decode(z);
  ASSERT_EQ(blended.sizes(), whole.sizes());
  EXPECT_TRUE(at::isfinite(blended).all().item<bool>());
  EXPECT_LE(blended.abs().max().item<float>(), 1.0f);
  // Far from every seam (the top-left tile's interior) tiling changes little.
  const auto corner = [](const at::Tensor& t) { return t.narrow(3, 0, 24).narrow(4, 0, 24); };
  EXPECT_LT(conf::relative_l2(corner(blended), corner(whole)), conf::relative_l2(blended, whole) + 1e-6);
  EXPECT_THROW(model::VaeDecodeSession(vae, {8, 8}), Error);  // overlap must be below the tile size
}

TEST(WanVaeLoading, DiffusersLayoutGivesTheSameModel) {
  torch::NoGradGuard no_grad;
  auto vae = fixture_vae();
  const auto weights = fixture_weights();
  std::vector<std::pair<std::string, at::Tensor>> renamed;
  for (const auto& key : weights->keys()) renamed.emplace_back(to_diffusers(key), weights->tensor(key));
  TempDir dir;
  std::filesystem::create_directories(dir / "repo" / "vae");
  io::write_safetensors((dir / "repo" / "vae" / "diffusion_pytorch_model.safetensors").string(), renamed);
  auto diffusers = model::load_wan_vae((dir / "repo" / "vae" / "diffusion_pytorch_model.safetensors").string(),
                                       test_device(), at::kFloat);
  const auto z = random_latents(2).to(test_device());
  EXPECT_TRUE(at::equal(diffusers->decode(z), vae->decode(z)));
}

TEST(WanVaeLoading, AVaeOfOursCarriesItsOwnLatentStatistics) {
  torch::NoGradGuard no_grad;
  const auto weights = fixture_weights();
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& key : weights->keys()) tensors.emplace_back(key, weights->tensor(key));
  const auto mean = at::linspace(-1, 1, 16), std = at::linspace(0.5, 2, 16);
  tensors.emplace_back("latents_mean", mean);
  tensors.emplace_back("latents_std", std);
  auto own = model::load_wan_vae(io::memory_source(tensors, "a VAE with its statistics"), test_device(), at::kFloat);
  auto official = fixture_vae();
  // The same network; only the normalisation differs: z_own = (z_official * std_o + mean_o - mean) / std.
  at::manual_seed(3);
  const auto video = at::rand({1, 3, 5, 32, 48}).mul(2).sub(1).to(test_device());
  const model::WanVaeConfig constants;
  const auto mean_o = at::tensor(constants.mean).view({1, -1, 1, 1, 1}), std_o = at::tensor(constants.std).view({1, -1, 1, 1, 1});
  const auto expected = (official->encode(video).cpu() * std_o + mean_o - mean.view({1, -1, 1, 1, 1})) / std.view({1, -1, 1, 1, 1});
  EXPECT_TRUE(at::allclose(own->encode(video).cpu(), expected, 1e-4, 1e-4));
  // One of the two alone, or values that cannot normalise, are errors naming the tensor.
  auto half = tensors;
  half.pop_back();
  skyreels::ErrorCode code{};
  auto text = skyreels::test::error_text([&] { model::load_wan_vae(io::memory_source(half, "x"), test_device(), at::kFloat); }, &code);
  EXPECT_NE(text.find("latents_std"), std::string::npos) << text;
  auto zero_std = tensors;
  zero_std.back().second = at::zeros({16});
  text = skyreels::test::error_text([&] { model::load_wan_vae(io::memory_source(zero_std, "x"), test_device(), at::kFloat); }, &code);
  EXPECT_EQ(code, skyreels::ErrorCode::ShapeMismatch);
  EXPECT_NE(text.find("positive"), std::string::npos) << text;
}

TEST(WanVaeLoading, OfficialPthLoadsAndMissingTensorsAreListed) {
  torch::NoGradGuard no_grad;
  auto from_pth = model::load_wan_vae((fixture_case("vae_fp32") / "weights.pth").string(), test_device(), at::kFloat);
  const auto z = random_latents(2).to(test_device());
  EXPECT_TRUE(at::equal(from_pth->decode(z), fixture_vae()->decode(z)));

  const auto weights = fixture_weights();
  std::vector<std::pair<std::string, at::Tensor>> partial;
  for (const auto& key : weights->keys())
    if (key != "decoder.upsamples.7.time_conv.bias") partial.emplace_back(key, weights->tensor(key));
  TempDir dir;
  io::write_safetensors((dir / "vae.safetensors").string(), partial);
  try {
    model::load_wan_vae((dir / "vae.safetensors").string(), test_device(), at::kFloat);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("decoder.upsamples.7.time_conv.bias"), std::string::npos) << e.what();
  }
  EXPECT_THROW(model::load_wan_vae((dir / "missing.pth").string(), test_device(), at::kFloat), Error);
}
