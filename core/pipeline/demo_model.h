#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace skyreels::model {
struct WanDitConfig;
}

namespace skyreels::pipeline {

// The tests' tiny model: a DF model (DiT, VAE, umT5 encoder and a SentencePiece tokenizer) with seeded
// random weights in the official folder layout, so tests of the app and the engine's plumbing run the
// whole flow on a CPU in seconds. Its videos are textures, not pictures. The embedded default model is
// the trained one (resources/demo-model, made by skyreels-train; find_demo_model below).
struct DemoModelShape {
  std::int64_t dit_dim = 128, dit_ffn = 256, dit_heads = 2, dit_layers = 2;
  std::int64_t vae_dim = 8;
  std::int64_t text_dim = 64, text_ffn = 128, text_heads = 2, text_layers = 2;
  std::int64_t vocab = 600;  // SentencePiece pieces (the encoder's embedding rows)
};

// Writes the folder (config.json, model.safetensors, Wan2.1_VAE.safetensors,
// models_t5_umt5-xxl-enc-bf16.safetensors, google/umt5-xxl/spiece.model and skyreels-defaults.json
// with settings sized for a CPU: 21 frames at 192 x 320, 8 steps, async). The same seed gives the
// same weights. Needs the SentencePiece plug-in to train the tokenizer (Error(Unsupported) without it).
void write_demo_model(const std::filesystem::path& dir, std::uint64_t seed = 0, const DemoModelShape& shape = {});

// config.json of a DiT of ours (the official keys), and a text file; Error(Runtime) naming the file.
void write_dit_config(const std::filesystem::path& file, const model::WanDitConfig& config);
void write_text_file(const std::filesystem::path& file, const std::string& text);

// Trains a unigram SentencePiece model of at most `vocab` pieces, with umT5's special ids (pad 0, eos 1,
// unk 2, no bos), on `corpus` into dir/spiece.model (the corpus stays as dir/corpus.txt) and returns
// its path. Needs the SentencePiece plug-in (Error(Unsupported) without it).
std::filesystem::path train_t5_tokenizer(const std::filesystem::path& dir, const std::string& corpus,
                                         std::int64_t vocab);

// Where the embedded demo model is: $SKYREELS_DEMO_MODEL, <exe>/../share/skyreels-studio/demo-model
// (installed), then the source tree's resources/demo-model (uninstalled builds), then the build's tiny
// random model (while no trained model is committed). Empty when none exists.
std::filesystem::path find_demo_model();

}  // namespace skyreels::pipeline
