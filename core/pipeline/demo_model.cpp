#include "pipeline/demo_model.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include "io/safetensors.h"
#include "model/sentencepiece/sentencepiece_model.h"
#include "model/t5_encoder.h"
#include "model/wan_dit.h"
#include "model/wan_vae.h"
#include "pipeline/generation_settings.h"
#include "skyreels/error.h"
#include "skyreels/strings.h"

namespace skyreels::pipeline {
namespace {

namespace fs = std::filesystem;

// Fan-in scaled normal weights (activations stay of order one through the layers, so the decoded
// video has contrast), unit norm scales and small biases; embeddings of unit variance.
std::vector<std::pair<std::string, at::Tensor>> random_state(torch::nn::Module& module, at::Generator& gen) {
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& item : module.named_parameters(true)) {
    const auto& name = item.key();
    const auto& p = item.value();
    const auto options = at::TensorOptions().dtype(at::kFloat);
    at::Tensor value;
    const bool norm_scale = ends_with(name, "gamma") || (p.dim() == 1 && name.find("norm") != std::string::npos);
    if (norm_scale) {
      value = at::ones(p.sizes(), options);
    } else if (p.dim() == 1) {
      value = at::normal(0.0, 0.02, p.sizes(), gen, options);
    } else if (ends_with(name, "embedding.weight") && p.dim() == 2) {
      value = at::normal(0.0, 1.0, p.sizes(), gen, options);
    } else {
      const double fan_in = static_cast<double>(p.numel() / p.size(0));
      value = at::normal(0.0, 1.0 / std::sqrt(fan_in), p.sizes(), gen, options);
    }
    tensors.emplace_back(name, value.to(p.scalar_type()));
  }
  return tensors;
}

// Prompt-like text for the tokenizer: English scene descriptions, plus the default negative prompt so
// its Chinese characters are pieces rather than unknowns.
std::string tokenizer_corpus() {
  const char* subjects[] = {"a cat", "an old man", "two dogs", "a red car", "a young woman", "the camera", "a bird",
                            "a sailing boat", "children", "a horse", "the city", "a robot", "waves", "a forest"};
  const char* actions[] = {"walks along", "sits on", "runs through", "looks at", "flies over", "drives past",
                           "dances in", "moves slowly across", "glows above", "rests beside"};
  const char* places[] = {"the beach at sunset", "a busy street", "a green forest", "a wooden table",
                          "snowy mountains", "a quiet river", "city lights at night", "a field of flowers",
                          "a rainy window", "the desert"};
  const char* styles[] = {"cinematic lighting", "4k", "slow motion", "aerial view", "close-up", "soft colours",
                          "film grain", "wide shot"};
  std::ostringstream out;
  std::size_t n = 0;
  for (const auto* s : subjects)
    for (const auto* a : actions)
      for (const auto* p : places) out << s << " " << a << " " << p << ", " << styles[n++ % 8] << ".\n";
  for (int i = 0; i < 20; ++i) out << kDefaultNegativePrompt << "\n";
  return out.str();
}


}  // namespace

void write_demo_model(const fs::path& dir, std::uint64_t seed, const DemoModelShape& shape) {
  std::error_code ec;
  fs::create_directories(dir / "google" / "umt5-xxl", ec);
  if (ec) throw Error(ErrorCode::Runtime, dir.string() + ": cannot create the folder (" + ec.message() + ")");

  // The tokenizer first: it fixes the encoder's vocabulary.
  const auto tok_dir = dir / "google" / "umt5-xxl";
  const auto spiece = train_t5_tokenizer(tok_dir, tokenizer_corpus(), shape.vocab);
  fs::remove(tok_dir / "corpus.txt", ec);
  const std::int64_t vocab = model::SentencePieceModel(spiece.string()).piece_size();

  auto gen = at::make_generator<at::CPUGeneratorImpl>();
  gen.set_current_seed(seed);
  const auto cpu = at::TensorOptions().device(at::kCPU);

  model::T5EncoderConfig t5;
  t5.vocab = vocab;
  t5.dim = t5.dim_attn = shape.text_dim;
  t5.dim_ffn = shape.text_ffn;
  t5.num_heads = shape.text_heads;
  t5.num_layers = shape.text_layers;
  model::T5Encoder encoder(t5, cpu.dtype(at::kBFloat16));
  io::write_safetensors((dir / "models_t5_umt5-xxl-enc-bf16.safetensors").string(), random_state(*encoder, gen),
                        {{"skyreels", "demo umT5 encoder, random weights"}});

  model::WanDitConfig dit;
  dit.dim = shape.dit_dim;
  dit.ffn_dim = shape.dit_ffn;
  dit.num_heads = shape.dit_heads;
  dit.num_layers = shape.dit_layers;
  dit.text_dim = shape.text_dim;
  dit.inject_sample_info = true;  // as DF-1.3B
  model::WanDit transformer(dit, cpu.dtype(at::kBFloat16));
  io::write_safetensors((dir / "model.safetensors").string(), random_state(*transformer, gen),
                        {{"skyreels", "demo DF DiT, random weights"}});
  write_dit_config(dir / "config.json", dit);

  model::WanVaeConfig vae;
  vae.dim = shape.vae_dim;
  model::WanVae autoencoder(vae, cpu.dtype(at::kFloat));
  io::write_safetensors((dir / "Wan2.1_VAE.safetensors").string(), random_state(*autoencoder, gen),
                        {{"skyreels", "demo Wan VAE, random weights"}});

  // Settings a 2-core CPU renders in well under a minute: 21 frames (6 latents) at 192 x 320, two
  // causal blocks of 3 (the second starts 2 rows after the first), 8 steps.
  GenerationSettings s;
  s.prompt = "a red car drives past a quiet river, cinematic lighting";
  s.height = 192;
  s.width = 320;
  s.num_frames = 21;
  s.base_num_frames = 21;
  s.steps = 8;
  s.ar_step = 2;
  s.causal_block_size = 3;
  write_text_file(dir / "skyreels-defaults.json", to_json(s).dump(2) + "\n");
  write_text_file(dir / "README.md",
             "# SkyReels Studio tiny random model\n\nA tiny diffusion-forcing model with seeded random weights, made "
             "by `skyreels-cli make-demo-model` for tests of the app and the engine's plumbing. Its videos are "
             "moving textures, not pictures: the embedded demo model (resources/demo-model) is the trained one.\n");
}

void write_text_file(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  if (!out) throw Error(ErrorCode::Runtime, path.string() + ": cannot write");
}

fs::path train_t5_tokenizer(const fs::path& dir, const std::string& corpus, std::int64_t vocab) {
  write_text_file(dir / "corpus.txt", corpus);
  model::train_sentencepiece("--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + (dir / "spiece").string() +
                             " --vocab_size=" + std::to_string(vocab) +
                             " --hard_vocab_limit=false --model_type=unigram --character_coverage=1.0"
                             " --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --num_threads=1 --minloglevel=2");
  std::error_code ec;
  fs::remove(dir / "spiece.vocab", ec);
  return dir / "spiece.model";
}

void write_dit_config(const fs::path& file, const model::WanDitConfig& dit) {
  const nlohmann::json config = {
      {"_class_name", "WanModel"}, {"model_type", "t2v"},  {"text_len", 512},       {"in_dim", dit.in_dim},
      {"dim", dit.dim},            {"ffn_dim", dit.ffn_dim}, {"freq_dim", dit.freq_dim}, {"out_dim", dit.out_dim},
      {"num_heads", dit.num_heads}, {"num_layers", dit.num_layers}, {"inject_sample_info", dit.inject_sample_info},
      {"eps", dit.eps},            {"text_dim", dit.text_dim}};
  write_text_file(file, config.dump(2) + "\n");
}

fs::path find_demo_model() {
  std::vector<fs::path> candidates;
  if (const char* env = std::getenv("SKYREELS_DEMO_MODEL"); env && *env) candidates.emplace_back(env);
  std::error_code ec;
  const auto exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    candidates.push_back(exe.parent_path() / ".." / "share" / "skyreels-studio" / "demo-model");
  }
#if defined(SKYREELS_DEMO_MODEL_SOURCE_DIR)
  candidates.emplace_back(SKYREELS_DEMO_MODEL_SOURCE_DIR);
#endif
#if defined(SKYREELS_TINY_MODEL_BUILD_DIR)
  candidates.emplace_back(SKYREELS_TINY_MODEL_BUILD_DIR);  // until a trained model is committed
#endif
  for (const auto& c : candidates)
    if (fs::exists(c / "model.safetensors", ec)) return c.lexically_normal();
  return {};
}

}  // namespace skyreels::pipeline
