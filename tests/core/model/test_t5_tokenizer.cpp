// The umT5 tokenizer and the text encoder facade. A small SentencePiece model is trained at test time
// with libsentencepiece's trainer, with umT5's special ids (pad 0, </s> 1, unk 2, no <s>).

#include <algorithm>
#include <filesystem>
#include <functional>
#include <sstream>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <torch/csrc/autograd/grad_mode.h>

#include "conformance/metrics.h"
#include "io/safetensors.h"
#include "io/tensor_source.h"
#include "model/t5_encoder.h"
#include "model/sentencepiece/sentencepiece_model.h"
#include "model/t5_tokenizer.h"
#include "model/weights.h"
#include "pipeline/prompt_embedding_cache.h"
#include "skyreels/error.h"
#include "test_support.h"

namespace fs = std::filesystem;
namespace io = skyreels::io;
namespace model = skyreels::model;
namespace pipeline = skyreels::pipeline;
using skyreels::Error;
using skyreels::ErrorCode;
using skyreels::test::TempDir;
using skyreels::test::test_device;

using skyreels::test::error_text;

namespace {

// The reference's default negative prompt (spec §5.6).
const std::string kNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，"
    "丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，"
    "杂乱的背景，三条腿，背景人很多，倒着走";

std::string corpus() {
  std::ostringstream out;
  const char* subjects[] = {"a cat", "the old man", "two dogs", "a red car", "a woman", "the camera", "a small bird"};
  const char* verbs[] = {"walks along", "sits on", "runs through", "looks at", "flies over", "drives past"};
  const char* places[] = {"the beach at sunset", "a busy street", "the green forest", "a wooden table",
                          "the snowy mountains", "a quiet river", "the city lights at night"};
  for (const auto* s : subjects)
    for (const auto* v : verbs)
      for (const auto* p : places) out << s << " " << v << " " << p << ", cinematic lighting, 4k.\n";
  for (int i = 0; i < 20; ++i) out << kNegativePrompt << "\n";
  out << "一只猫坐在红色的沙发上，阳光明媚。\n";
  out << "\"quoted\" it's <b>bold</b> & more 'single' (2024) ©\n";
  return out.str();
}

// Trained once per test run.
const fs::path& trained_model() {
  static TempDir dir;
  static const fs::path model = [] {
    skyreels::test::write_file(dir / "corpus.txt", corpus());
    const auto prefix = (dir / "spiece").string();
    model::train_sentencepiece(
        "--input=" + (dir / "corpus.txt").string() + " --model_prefix=" + prefix +
        " --vocab_size=400 --hard_vocab_limit=false --model_type=unigram --character_coverage=1.0"
        " --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --minloglevel=2");
    return fs::path(prefix + ".model");
  }();
  return model;
}

std::vector<std::int64_t> widen(const std::vector<int>& ids) { return {ids.begin(), ids.end()}; }

}  // namespace

// --- text cleaning ------------------------------------------------------------------------------------------

TEST(T5Tokenizer, HtmlUnescapeAsPython) {
  EXPECT_EQ(model::html_unescape("a &amp; b"), "a & b");
  EXPECT_EQ(model::html_unescape("&amp;amp;"), "&amp;");  // one level per call
  EXPECT_EQ(model::html_unescape("&lt;b&gt; &quot;x&quot; &#39;y&#39; &apos;"), "<b> \"x\" 'y' '");
  EXPECT_EQ(model::html_unescape("&#x4E2D;&#25991;&#X41;"), "中文A");
  EXPECT_EQ(model::html_unescape("&nbsp;"), "\u00a0");
  EXPECT_EQ(model::html_unescape("&copy2024 &amp"), "©2024 &");  // legacy names need no ';'
  EXPECT_EQ(model::html_unescape("&notit;"), "¬it;");             // longest known prefix
  EXPECT_EQ(model::html_unescape("&hellip; &mdash; &Alpha;&omega;"), "… — Αω");
  EXPECT_EQ(model::html_unescape("&hellip &unknown; &; &#; & x"), "&hellip &unknown; &; &#; & x");
  EXPECT_EQ(model::html_unescape("&#0;&#x80;&#1114112;&#99999999999999999999;"), "\ufffd€\ufffd\ufffd");
  EXPECT_EQ(model::html_unescape("a&#1;b&#xFFFF;c&#13;"), "abc\r");  // invalid code points vanish
}

TEST(T5Tokenizer, CleansPromptsLikeTheReference) {
  EXPECT_EQ(model::clean_prompt("  a\t\n b  "), "a b");
  EXPECT_EQ(model::clean_prompt("a&nbsp;&nbsp;b"), "a b");       // NBSP is whitespace to Python's \s
  EXPECT_EQ(model::clean_prompt("a\u3000b\u2003c"), "a b c");    // ideographic and em spaces too
  EXPECT_EQ(model::clean_prompt("&amp;lt;3"), "<3");              // unescaped twice
  EXPECT_EQ(model::clean_prompt("<b>&amp;amp;amp;</b>"), "<b>&amp;</b>");  // looks like HTML: no ftfy pass
  EXPECT_EQ(model::clean_prompt("&amp;amp;amp;"), "&");           // ftfy's pass, then two more
  EXPECT_EQ(model::clean_prompt("\u201cquoted\u201d \u2018x\u2019"), "\"quoted\" 'x'");
  EXPECT_EQ(model::clean_prompt("x\x01y\x7f z\xef\xbb\xbf"), "xy z");  // control characters and BOM
  EXPECT_EQ(model::clean_prompt("\xff ok"), "\ufffd ok");              // invalid UTF-8 is replaced
  EXPECT_EQ(model::clean_prompt(kNegativePrompt), kNegativePrompt);
  EXPECT_EQ(model::clean_prompt(" \n\t "), "");
}

// --- the SentencePiece tokenizer ---------------------------------------------------------------------------

TEST(T5Tokenizer, AppendsEosPadsAndMasks) {
  const model::T5Tokenizer tok(trained_model().string());
  EXPECT_EQ(tok.max_length(), 512);
  EXPECT_GT(tok.vocab_size(), 100);
  const std::string text = "a cat sits on a wooden table, cinematic lighting";
  const auto raw = widen(tok.encode_raw(text));
  ASSERT_GT(raw.size(), 3u);
  const auto t = tok.encode(text);
  ASSERT_EQ(t.ids.size(), 512u);
  ASSERT_EQ(t.mask.size(), 512u);
  const auto n = static_cast<std::int64_t>(raw.size());
  EXPECT_EQ(std::vector<std::int64_t>(t.ids.begin(), t.ids.begin() + n), raw);
  EXPECT_EQ(t.ids[n], 1);  // </s>
  for (std::size_t i = n + 1; i < 512; ++i) ASSERT_EQ(t.ids[i], 0) << i;
  EXPECT_EQ(t.length, n + 1);
  for (std::size_t i = 0; i < 512; ++i) ASSERT_EQ(t.mask[i], i < static_cast<std::size_t>(n + 1) ? 1 : 0) << i;
  EXPECT_EQ(t.ids_tensor().sizes(), (std::vector<std::int64_t>{1, 512}));
  EXPECT_EQ(t.mask_tensor().sum().item<std::int64_t>(), n + 1);
  // No <s> and no unknown pieces for text from the training corpus.
  for (const auto id : raw) EXPECT_GT(id, 2);
  // Whitespace is cleaned before encoding.
  EXPECT_EQ(tok.encode("  a cat   sits on a wooden table,\n cinematic lighting ").ids, t.ids);
}

TEST(T5Tokenizer, TruncatesKeepingEosLast) {
  std::string text;
  for (int i = 0; i < 20; ++i) text += "a small bird flies over the green forest. ";
  const model::T5Tokenizer long_tok(trained_model().string());
  const auto raw = widen(long_tok.encode_raw(model::clean_prompt(text)));
  ASSERT_GT(raw.size(), 40u);

  const model::T5Tokenizer tok(trained_model().string(), 16);
  const auto t = tok.encode(text);
  ASSERT_EQ(t.ids.size(), 16u);
  EXPECT_EQ(std::vector<std::int64_t>(t.ids.begin(), t.ids.begin() + 15), std::vector<std::int64_t>(raw.begin(), raw.begin() + 15));
  EXPECT_EQ(t.ids[15], 1);
  EXPECT_EQ(t.length, 16);
  EXPECT_EQ(t.mask, std::vector<std::int64_t>(16, 1));

  // Exactly fitting: all pieces and </s>, no padding; one shorter: the last piece goes, </s> stays.
  const auto n = static_cast<std::int64_t>(raw.size());
  const auto fit = model::T5Tokenizer(trained_model().string(), n + 1).encode(text);
  EXPECT_EQ(std::vector<std::int64_t>(fit.ids.begin(), fit.ids.end() - 1), raw);
  EXPECT_EQ(fit.ids.back(), 1);
  const auto cut = model::T5Tokenizer(trained_model().string(), n).encode(text);
  EXPECT_EQ(std::vector<std::int64_t>(cut.ids.begin(), cut.ids.end() - 1), std::vector<std::int64_t>(raw.begin(), raw.end() - 1));
  EXPECT_EQ(cut.ids.back(), 1);
}

TEST(T5Tokenizer, EmptyPromptIsJustEos) {
  const model::T5Tokenizer tok(trained_model().string());
  for (const std::string text : {"", "   ", "\n\t \u3000"}) {
    const auto t = tok.encode(text);
    EXPECT_EQ(t.length, 1);
    EXPECT_EQ(t.ids[0], 1);
    EXPECT_EQ(t.mask[0], 1);
    EXPECT_EQ(std::count(t.ids.begin(), t.ids.end(), 0), 511);
    EXPECT_EQ(std::count(t.mask.begin(), t.mask.end(), 1), 1);
  }
}

TEST(T5Tokenizer, ChineseDefaultNegativePrompt) {
  const model::T5Tokenizer tok(trained_model().string());
  const auto raw = widen(tok.encode_raw(kNegativePrompt));
  const auto t = tok.encode(kNegativePrompt);
  ASSERT_GT(raw.size(), 10u);
  ASSERT_LT(raw.size(), 511u);
  EXPECT_EQ(std::vector<std::int64_t>(t.ids.begin(), t.ids.begin() + static_cast<std::ptrdiff_t>(raw.size())), raw);
  EXPECT_EQ(t.ids[raw.size()], 1);
  EXPECT_EQ(t.length, static_cast<std::int64_t>(raw.size()) + 1);
  for (const auto id : raw) EXPECT_NE(id, 2) << "unknown piece in the negative prompt";
  // SentencePiece's NFKC normaliser folds the full-width commas to ASCII ones (what ftfy's
  // fix_character_width would have done before it).
  EXPECT_EQ(tok.encode_raw("静态，字幕"), tok.encode_raw("静态,字幕"));
}

TEST(T5Tokenizer, MissingOrCorruptModelIsAClearError) {
  TempDir dir;
  ErrorCode code{};
  auto text = error_text([&] { model::T5Tokenizer((dir / "spiece.model").string()); }, &code);
  EXPECT_EQ(code, ErrorCode::NotFound);
  EXPECT_NE(text.find((dir / "spiece.model").string()), std::string::npos) << text;

  text = error_text([&] { model::T5Tokenizer(dir.path().string()); }, &code);  // a folder without it
  EXPECT_EQ(code, ErrorCode::NotFound);
  EXPECT_NE(text.find("spiece.model"), std::string::npos) << text;

  skyreels::test::write_file(dir / "spiece.model", "this is not a protobuf");
  text = error_text([&] { model::T5Tokenizer(dir.path().string()); }, &code);  // found in the folder, unreadable
  EXPECT_EQ(code, ErrorCode::CorruptFile);
  EXPECT_NE(text.find((dir / "spiece.model").string()), std::string::npos) << text;

  // A folder holding a good model (google/umt5-xxl/ style).
  TempDir good;
  fs::copy_file(trained_model(), good / "spiece.model");
  EXPECT_EQ(model::T5Tokenizer(good.path().string()).encode("a cat").ids,
            model::T5Tokenizer(trained_model().string()).encode("a cat").ids);
}

// --- the text encoder: tokenizer + encoder + cache ---------------------------------------------------------------

namespace {

struct TinyText {
  std::shared_ptr<const model::T5Tokenizer> tokenizer;
  io::TensorSourcePtr weights;
  model::T5Encoder reference{nullptr};
};

TinyText tiny_text(std::int64_t max_length = 32) {
  torch::NoGradGuard no_grad;
  TinyText t;
  t.tokenizer = std::make_shared<const model::T5Tokenizer>(trained_model().string(), max_length);
  model::T5EncoderConfig c;
  c.vocab = t.tokenizer->vocab_size();
  c.dim = 32;
  c.dim_attn = 32;
  c.dim_ffn = 48;
  c.num_heads = 4;
  c.num_layers = 2;
  t.reference = model::T5Encoder(c, at::TensorOptions().dtype(at::kBFloat16));
  model::randomize_weights(*t.reference, 5, 0.2);
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (auto& p : t.reference->named_parameters(true)) {
    if (p.key().find("norm") != std::string::npos) p.value().add_(1.0);
    tensors.emplace_back(p.key(), p.value());
  }
  t.weights = io::memory_source(tensors, "tiny umT5");
  return t;
}

pipeline::TextEncoderOptions cpu_options(const TempDir& cache, std::int64_t max_length = 32) {
  pipeline::TextEncoderOptions o;
  o.placement = pipeline::Placement::Cpu;
  o.device = c10::Device(c10::kCPU);
  o.max_length = max_length;
  o.cache_dir = cache / "cache";
  return o;
}

}  // namespace

TEST(T5TextEncoder, EncodesEachPromptOnceAndMatchesTheEncoder) {
  torch::NoGradGuard no_grad;
  auto tiny = tiny_text();
  TempDir cache;
  pipeline::TextEncoder encoder(tiny.weights, tiny.tokenizer, "tiny-model", cpu_options(cache));
  EXPECT_FALSE(encoder.model_loaded());

  const std::string prompt = "a red car drives past the city lights at night";
  const auto first = encoder.encode(prompt);
  ASSERT_EQ(first.sizes(), (std::vector<std::int64_t>{32, 32}));
  EXPECT_EQ(first.scalar_type(), at::kBFloat16);
  EXPECT_EQ(encoder.stats().encoded, 1);
  EXPECT_EQ(encoder.stats().model_loads, 1);

  // The encoder over all 32 positions, as the reference runs it: same rows, padded rows zero.
  const auto tokens = tiny.tokenizer->encode(prompt);
  const auto full = tiny.reference->forward(tokens.ids_tensor(), tokens.mask_tensor())[0];
  EXPECT_LT(skyreels::conformance::relative_l2(first, full), skyreels::test::kBf16NoiseRelL2);
  EXPECT_EQ(first.narrow(0, tokens.length, 32 - tokens.length).abs().max().item<double>(), 0.0);

  // Again: from the cache, bitwise the same.
  const auto again = encoder.encode(prompt);
  EXPECT_EQ(encoder.stats().encoded, 1);
  EXPECT_EQ(encoder.stats().cache_hits, 1);
  EXPECT_TRUE(at::equal(again, first));

  // Prompt and default negative prompt in one call: one more encode, no second model load.
  const auto both = encoder.encode(std::vector<std::string>{prompt, kNegativePrompt, kNegativePrompt});
  EXPECT_EQ(encoder.stats().encoded, 2);
  EXPECT_EQ(encoder.stats().model_loads, 1);
  EXPECT_TRUE(at::equal(both[0], first));
  EXPECT_TRUE(at::equal(both[1], both[2]));
}

TEST(T5TextEncoder, CachedPromptsNeedNoModelAcrossInstances) {
  torch::NoGradGuard no_grad;
  auto tiny = tiny_text();
  TempDir cache;
  at::Tensor neg;
  {
    pipeline::TextEncoder encoder(tiny.weights, tiny.tokenizer, "tiny-model", cpu_options(cache));
    neg = encoder.encode(kNegativePrompt);
  }
  pipeline::TextEncoder encoder(tiny.weights, tiny.tokenizer, "tiny-model", cpu_options(cache));
  EXPECT_TRUE(at::equal(encoder.encode(kNegativePrompt), neg));
  EXPECT_EQ(encoder.stats().model_loads, 0);
  EXPECT_FALSE(encoder.model_loaded());

  // Another model identity does not see those entries.
  pipeline::TextEncoder other(tiny.weights, tiny.tokenizer, "another-model", cpu_options(cache));
  other.encode(kNegativePrompt);
  EXPECT_EQ(other.stats().encoded, 1);
}

TEST(T5TextEncoder, CorruptCacheEntryIsReencodedAndRewritten) {
  torch::NoGradGuard no_grad;
  auto tiny = tiny_text();
  TempDir cache;
  const auto options = cpu_options(cache);
  pipeline::TextEncoder encoder(tiny.weights, tiny.tokenizer, "tiny-model", options);
  const auto first = encoder.encode("a cat");
  const pipeline::PromptEmbeddingCache store(options.cache_dir);
  const pipeline::PromptKey key{"tiny-model", "a cat", 32, "bf16-autocast"};
  ASSERT_TRUE(fs::exists(store.entry_path(key)));
  skyreels::test::write_file(store.entry_path(key), "garbage");

  EXPECT_TRUE(at::equal(encoder.encode("a cat"), first));
  EXPECT_EQ(encoder.stats().encoded, 2);
  ASSERT_TRUE(store.get(key).has_value());  // rewritten
}

TEST(T5TextEncoder, WithoutCacheEveryCallEncodes) {
  torch::NoGradGuard no_grad;
  auto tiny = tiny_text();
  TempDir cache;
  auto options = cpu_options(cache);
  options.use_cache = false;
  pipeline::TextEncoder encoder(tiny.weights, tiny.tokenizer, "tiny-model", options);
  encoder.encode("a cat");
  encoder.encode("a cat");
  EXPECT_EQ(encoder.stats().encoded, 2);
  EXPECT_FALSE(fs::exists(options.cache_dir));
}

TEST(T5TextEncoder, FromFilesOnDisk) {
  torch::NoGradGuard no_grad;
  auto tiny = tiny_text();
  TempDir dir;
  std::vector<std::pair<std::string, at::Tensor>> tensors;
  for (const auto& key : tiny.weights->keys()) tensors.emplace_back(key, tiny.weights->tensor(key));
  io::write_safetensors((dir / "umt5.safetensors").string(), tensors);
  fs::create_directories(dir / "tokenizer");
  fs::copy_file(trained_model(), dir / "tokenizer" / "spiece.model");

  pipeline::TextEncoder encoder((dir / "umt5.safetensors").string(), (dir / "tokenizer").string(), cpu_options(dir));
  EXPECT_NE(encoder.model_id().find("umt5.safetensors"), std::string::npos);
  EXPECT_NE(encoder.model_id().find("spiece.model"), std::string::npos);
  pipeline::TextEncoder from_parts(tiny.weights, tiny.tokenizer, "parts", cpu_options(dir));
  EXPECT_TRUE(at::equal(encoder.encode("a woman looks at a quiet river"), from_parts.encode("a woman looks at a quiet river")));
  EXPECT_THROW(pipeline::TextEncoder((dir / "missing.pth").string(), (dir / "tokenizer").string(), cpu_options(dir)), Error);
}

TEST(T5TextEncoder, GpuThenFreeReleasesTheModel) {
  torch::NoGradGuard no_grad;
  auto tiny = tiny_text();
  TempDir cache;
  auto options = cpu_options(cache);
  options.placement = pipeline::Placement::GpuThenFree;
  if (!test_device().is_cuda()) {
    options.gpu = c10::Device(c10::kCPU);
    pipeline::TextEncoder encoder(tiny.weights, tiny.tokenizer, "tiny-model", options);
    EXPECT_THROW(encoder.encode("a cat"), Error);  // GpuThenFree needs a CUDA device
    return;
  }
  options.gpu = test_device();
  options.device = test_device();
  pipeline::TextEncoder encoder(tiny.weights, tiny.tokenizer, "tiny-model", options);
  const auto out = encoder.encode("a cat");
  EXPECT_TRUE(out.is_cuda());
  EXPECT_FALSE(encoder.model_loaded());
  EXPECT_EQ(encoder.stats().model_loads, 1);
}
