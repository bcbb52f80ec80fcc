#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/core/Device.h>

#include "io/tensor_source.h"
#include "model/t5_encoder.h"
#include "model/t5_tokenizer.h"

namespace skyreels::pipeline {

// --- the on-disk cache of prompt embeddings ---------------------------------------------------------

// Everything a prompt's embedding depends on.
struct PromptKey {
  std::string model_id;           // identity of the encoder and tokenizer (see model_identity)
  std::string text;               // the prompt as given, before cleaning
  std::int64_t max_length = 512;  // tokenizer length (rows of the embedding)
  std::string compute = "bf16-autocast";  // model::to_string(T5Compute)

  // The canonical text of the key: hashed for the file name and stored in the entry, so a hash
  // collision or a foreign file is recognised.
  std::string key_text() const;
};

struct PromptEmbedding {
  at::Tensor context;       // [max_length, dim] bf16 (CPU); rows from `length` on are zero
  std::int64_t length = 0;  // real tokens including </s>
};

// "path|size|mtime" of a file; for a folder, of the weight, model and config files in it. Changes
// when a checkpoint is replaced, so stale embeddings are not reused.
std::string model_identity(const std::string& path);

// One safetensors file per prompt, named by a hash of the key, holding the embedding's real rows
// (bf16) and, as metadata, the full key text, the length and a checksum of the data. Writes are
// atomic (temporary file, then rename). A corrupt entry, or one whose key differs, is logged,
// deleted and treated as a miss; the next put() rewrites it.
class PromptEmbeddingCache {
public:
  // `dir` empty: default_dir().
  explicit PromptEmbeddingCache(std::filesystem::path dir = {});

  // $XDG_CACHE_HOME/skyreels-studio/prompt-embeddings, else ~/.cache/skyreels-studio/prompt-embeddings
  // (the system temp folder when neither HOME nor XDG_CACHE_HOME is set).
  static std::filesystem::path default_dir();
  const std::filesystem::path& dir() const noexcept { return dir_; }

  std::optional<PromptEmbedding> get(const PromptKey& key) const;
  // Returns false (and logs) when the entry cannot be written; a cache never fails the caller.
  bool put(const PromptKey& key, const PromptEmbedding& embedding) const;

  // With the key's defaults (512 tokens, bf16-autocast).
  std::optional<PromptEmbedding> get(const std::string& model_id, const std::string& text) const;
  bool put(const std::string& model_id, const std::string& text, const PromptEmbedding& embedding) const;

  std::filesystem::path entry_path(const PromptKey& key) const;

private:
  std::filesystem::path dir_;
};

// --- text encoding: tokenizer + encoder + cache ---------------------------------------------------

enum class Placement {
  // Encode on the CPU; the model is loaded once and stays in host memory (~11 GB in bf16), the GPU
  // stays free for the DiT.
  Cpu,
  // Load onto the GPU for each batch of cache misses, encode, then free the model and return the
  // allocator's cached blocks (the model is ~11 GB of GPU memory while it lives).
  GpuThenFree,
};

struct TextEncoderOptions {
  Placement placement = Placement::Cpu;
  c10::Device device = c10::Device(c10::kCPU);  // where encode() returns embeddings (the DiT's device)
  c10::Device gpu = c10::Device(c10::kCUDA, 0);  // where GpuThenFree encodes
  model::T5Compute compute = model::T5Compute::Bf16Autocast;
  std::int64_t max_length = model::T5Tokenizer::kDefaultMaxLength;
  bool use_cache = true;
  std::filesystem::path cache_dir;        // empty: PromptEmbeddingCache::default_dir()
  std::string model_id;                   // empty: identity of the checkpoint and tokenizer files
  std::optional<std::int64_t> num_heads;  // checked against the weights when given
  // Encode only the prompt's real tokens and zero-pad, instead of all max_length positions. The real
  // rows are the same either way (padded keys get exactly zero attention weight) up to GEMM rounding,
  // and the reference itself trims then zero-pads (T5EncoderModel returns u[:seq_len]).
  bool trim_padding = true;
  // The HF config.json beside a checkpoint in that layout (model_folder.h finds it); empty: none.
  std::string t5_config;
};

class TextEncoder {
public:
  // checkpoint: models_t5_umt5-xxl-enc-bf16.pth, HF UMT5EncoderModel safetensors, or a folder;
  // tokenizer: spiece.model or a folder holding it. Nothing is loaded until a prompt misses the cache.
  TextEncoder(std::string checkpoint, std::string tokenizer, TextEncoderOptions options = {});
  // From parts already open (tests, callers holding the weights); model_id must identify them.
  TextEncoder(io::TensorSourcePtr weights, std::shared_ptr<const model::T5Tokenizer> tokenizer, std::string model_id,
              TextEncoderOptions options = {});
  ~TextEncoder();

  // [max_length, dim] bf16 on options.device, padded rows zero. Cached prompts are not encoded again.
  at::Tensor encode(const std::string& prompt);
  // Several prompts (prompt and negative prompt); the model is loaded at most once for all misses.
  std::vector<at::Tensor> encode(const std::vector<std::string>& prompts);

  // Drops the model (and, on the GPU, the allocator's cache).
  void release();
  bool model_loaded() const noexcept { return static_cast<bool>(model_); }

  struct Stats {
    int cache_hits = 0, encoded = 0, model_loads = 0;
  };
  const Stats& stats() const noexcept { return stats_; }
  const std::string& model_id() const noexcept { return model_id_; }

private:
  const model::T5Tokenizer& tokenizer();
  model::T5Encoder& model();
  PromptEmbedding run(const model::T5Tokens& tokens);

  std::string checkpoint_, tokenizer_path_;
  io::TensorSourcePtr weights_;
  std::shared_ptr<const model::T5Tokenizer> tokenizer_;
  TextEncoderOptions options_;
  std::string model_id_;
  std::optional<PromptEmbeddingCache> cache_;
  std::unique_ptr<model::T5Encoder> model_;
  Stats stats_;
};

}  // namespace skyreels::pipeline
