#include "pipeline/prompt_embedding_cache.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <system_error>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/grad_mode.h>

#include "io/safetensors.h"
#include "skyreels/error.h"
#include "skyreels/log.h"
#include "telemetry/device_memory.h"


namespace skyreels::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kFormat = "skyreels-prompt-embedding/1";

// FNV-1a, 64 bit: file names and the data checksum. Entries carry their full key, so a collision is
// detected, not trusted.
std::uint64_t fnv1a(const void* data, std::size_t size, std::uint64_t hash = 0xcbf29ce484222325ull) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  for (std::size_t i = 0; i < size; ++i) {
    hash ^= bytes[i];
    hash *= 0x100000001b3ull;
  }
  return hash;
}

std::string hex64(std::uint64_t value) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", static_cast<unsigned long long>(value));
  return text;
}

std::string checksum(const at::Tensor& t) {
  const auto c = t.contiguous();
  return hex64(fnv1a(c.data_ptr(), c.numel() * c.element_size()));
}

std::string file_stamp(const fs::path& path) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  const auto mtime = fs::last_write_time(path, ec);
  const auto ticks = std::chrono::duration_cast<std::chrono::nanoseconds>(mtime.time_since_epoch()).count();
  return path.string() + "|" + std::to_string(ec ? 0 : size) + "|" + std::to_string(ticks);
}

bool is_model_file(const fs::path& p) {
  const auto ext = p.extension().string();
  return ext == ".safetensors" || ext == ".pth" || ext == ".pt" || ext == ".bin" || ext == ".json" || ext == ".model";
}

}  // namespace

// --- keys and identities --------------------------------------------------------------------------------

std::string PromptKey::key_text() const {
  // A JSON array is unambiguous whatever the fields contain. Text that is not valid UTF-8 is stored
  // with replacement characters, so the raw bytes' hash keeps such prompts apart.
  const nlohmann::json fields = {kFormat, model_id, max_length, compute, text, hex64(fnv1a(text.data(), text.size()))};
  return fields.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string model_identity(const std::string& path) {
  std::error_code ec;
  const fs::path p = fs::absolute(path, ec);
  if (!fs::is_directory(p, ec)) return file_stamp(p);
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(p, ec))
    if (entry.is_regular_file(ec) && is_model_file(entry.path())) files.push_back(entry.path());
  std::sort(files.begin(), files.end());
  std::string id = p.string();
  for (const auto& f : files) id += ";" + file_stamp(f);
  return id;
}

// --- the cache ----------------------------------------------------------------------------------------------

PromptEmbeddingCache::PromptEmbeddingCache(fs::path dir) : dir_(dir.empty() ? default_dir() : std::move(dir)) {}

fs::path PromptEmbeddingCache::default_dir() {
  fs::path base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) base = xdg;
  else if (const char* home = std::getenv("HOME"); home && *home) base = fs::path(home) / ".cache";
  else base = fs::temp_directory_path();
  return base / "skyreels-studio" / "prompt-embeddings";
}

fs::path PromptEmbeddingCache::entry_path(const PromptKey& key) const {
  const auto text = key.key_text();
  return dir_ / (hex64(fnv1a(text.data(), text.size())) + ".safetensors");
}

std::optional<PromptEmbedding> PromptEmbeddingCache::get(const PromptKey& key) const {
  const auto path = entry_path(key);
  std::error_code ec;
  if (!fs::exists(path, ec)) return std::nullopt;

  std::string problem;
  PromptEmbedding found;
  try {
    const io::SafetensorsFile file(path.string());
    const auto& meta = file.metadata();
    const auto field = [&](const char* name) {
      const auto it = meta.find(name);
      return it == meta.end() ? std::string() : it->second;
    };
    if (field("format") != kFormat) {
      problem = "not a prompt embedding entry";
    } else if (field("key") != key.key_text()) {
      problem = "it belongs to another prompt or model (hash collision or stale entry)";
    } else if (!file.contains("context")) {
      problem = "no \"context\" tensor";
    } else {
      const auto rows = file.tensor("context");
      const auto length = std::stoll(field("length"));
      if (rows.scalar_type() != at::kBFloat16 || rows.dim() != 2 || rows.size(0) != length || length < 1 ||
          length > key.max_length) {
        problem = "unexpected tensor " + std::string(c10::toString(rows.scalar_type())) + c10::str(rows.sizes()) +
                  " for length " + std::to_string(length);
      } else if (checksum(rows) != field("checksum")) {
        problem = "checksum mismatch (damaged data)";
      } else {
        found.length = length;
        found.context = at::zeros({key.max_length, rows.size(1)}, rows.options());
        found.context.narrow(0, 0, length).copy_(rows);  // a copy: the entry's mapping is not kept
      }
    }
  } catch (const std::exception& e) {  // skyreels::Error (corrupt file), std::stoll, c10::Error
    problem = e.what();
  }
  if (!problem.empty()) {
    logger("pipeline")->warn("prompt cache: ignoring {}: {}", path.string(), problem);
    fs::remove(path, ec);
    return std::nullopt;
  }
  return found;
}

bool PromptEmbeddingCache::put(const PromptKey& key, const PromptEmbedding& embedding) const {
  const auto path = entry_path(key);
  try {
    if (!embedding.context.defined() || embedding.context.dim() != 2 || embedding.length < 1 ||
        embedding.length > embedding.context.size(0) || embedding.context.size(0) != key.max_length)
      throw Error(ErrorCode::BadArgument, "prompt embedding must be [max_length, dim] with 1 <= length <= max_length");
    const auto rows = embedding.context.narrow(0, 0, embedding.length).to(at::kCPU, at::kBFloat16).contiguous();
    fs::create_directories(dir_);
    io::write_safetensors(path.string(), {{"context", rows}},
                          {{"format", kFormat},
                           {"key", key.key_text()},
                           {"length", std::to_string(embedding.length)},
                           {"checksum", checksum(rows)}});
    return true;
  } catch (const std::exception& e) {
    logger("pipeline")->warn("prompt cache: cannot write {}: {}", path.string(), e.what());
    return false;
  }
}

std::optional<PromptEmbedding> PromptEmbeddingCache::get(const std::string& model_id, const std::string& text) const {
  return get(PromptKey{model_id, text});
}

bool PromptEmbeddingCache::put(const std::string& model_id, const std::string& text,
                               const PromptEmbedding& embedding) const {
  return put(PromptKey{model_id, text}, embedding);
}

// --- the text encoder ------------------------------------------------------------------------------------------

namespace {

c10::Device encode_device(const TextEncoderOptions& o) {
  if (o.placement == Placement::Cpu) return c10::Device(c10::kCPU);
  if (!o.gpu.is_cuda()) throw Error(ErrorCode::BadArgument, "GpuThenFree placement needs a CUDA device, got " + o.gpu.str());
  return o.gpu;
}

}  // namespace

TextEncoder::TextEncoder(std::string checkpoint, std::string tokenizer, TextEncoderOptions options)
    : checkpoint_(std::move(checkpoint)), tokenizer_path_(std::move(tokenizer)), options_(std::move(options)) {
  std::error_code ec;
  if (!fs::exists(checkpoint_, ec)) throw Error(ErrorCode::NotFound, checkpoint_ + ": no such umT5 checkpoint");
  model_id_ = options_.model_id.empty() ? model_identity(checkpoint_) + "|" + model_identity(tokenizer_path_)
                                        : options_.model_id;
  if (options_.use_cache) cache_.emplace(options_.cache_dir);
}

TextEncoder::TextEncoder(io::TensorSourcePtr weights, std::shared_ptr<const model::T5Tokenizer> tokenizer,
                         std::string model_id, TextEncoderOptions options)
    : weights_(std::move(weights)), tokenizer_(std::move(tokenizer)), options_(std::move(options)),
      model_id_(std::move(model_id)) {
  if (!weights_ || !tokenizer_) throw Error(ErrorCode::BadArgument, "text encoder needs weights and a tokenizer");
  if (model_id_.empty()) throw Error(ErrorCode::BadArgument, "text encoder needs a model id for its cache");
  if (tokenizer_->max_length() != options_.max_length)
    throw Error(ErrorCode::BadArgument, "tokenizer max length " + std::to_string(tokenizer_->max_length()) +
                                            " differs from the encoder's " + std::to_string(options_.max_length));
  if (options_.use_cache) cache_.emplace(options_.cache_dir);
}

TextEncoder::~TextEncoder() = default;

const model::T5Tokenizer& TextEncoder::tokenizer() {
  // Built on the first miss: cached prompts need no SentencePiece at all.
  if (!tokenizer_) tokenizer_ = std::make_shared<const model::T5Tokenizer>(tokenizer_path_, options_.max_length);
  return *tokenizer_;
}

model::T5Encoder& TextEncoder::model() {
  if (!model_) {
    model::T5LoadOptions load;
    load.compute = options_.compute;
    load.num_heads = options_.num_heads;
    const auto device = encode_device(options_);
    const auto start = std::chrono::steady_clock::now();
    model_ = std::make_unique<model::T5Encoder>(weights_ ? model::load_t5_encoder(weights_, device, load)
                                                         : model::load_t5_encoder(checkpoint_, options_.t5_config, device, load));
    ++stats_.model_loads;
    logger("pipeline")->info("umT5 encoder on {} in {:.1f} s", device.str(),
                             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return *model_;
}

PromptEmbedding TextEncoder::run(const model::T5Tokens& tokens) {
  torch::NoGradGuard no_grad;
  auto& encoder = model();
  auto ids = tokens.ids_tensor(), mask = tokens.mask_tensor();
  if (options_.trim_padding) {
    ids = ids.narrow(1, 0, tokens.length);
    mask = mask.narrow(1, 0, tokens.length);
  }
  const auto rows = encoder->forward(ids, mask)[0].to(at::kCPU, at::kBFloat16);
  PromptEmbedding out;
  out.length = tokens.length;
  out.context = at::zeros({options_.max_length, rows.size(1)}, rows.options());
  out.context.narrow(0, 0, rows.size(0)).copy_(rows);
  ++stats_.encoded;
  return out;
}

std::vector<at::Tensor> TextEncoder::encode(const std::vector<std::string>& prompts) {
  std::vector<at::Tensor> out(prompts.size());
  const auto compute = std::string(model::to_string(options_.compute));
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const PromptKey key{model_id_, prompts[i], options_.max_length, compute};
    // The same prompt twice in one call (e.g. an empty negative prompt) is encoded once.
    for (std::size_t j = 0; j < i && !out[i].defined(); ++j)
      if (prompts[j] == prompts[i]) out[i] = out[j];
    if (out[i].defined()) continue;
    if (cache_) {
      if (auto hit = cache_->get(key)) {
        ++stats_.cache_hits;
        out[i] = hit->context.to(options_.device);
        continue;
      }
    }
    const auto embedding = run(tokenizer().encode(prompts[i]));
    if (cache_) cache_->put(key, embedding);
    out[i] = embedding.context.to(options_.device);
  }
  if (options_.placement == Placement::GpuThenFree) release();
  return out;
}

at::Tensor TextEncoder::encode(const std::string& prompt) { return encode(std::vector<std::string>{prompt})[0]; }

void TextEncoder::release() {
  if (!model_) return;
  const auto device = (*model_)->device();
  model_.reset();
  if (device.is_cuda()) telemetry::release_cached_memory(device);
}

}  // namespace skyreels::pipeline
