#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/core/Tensor.h>

namespace skyreels::model {

// The umT5 tokenizer as the reference calls it (HF AutoTokenizer on google/umt5-xxl, spec §7):
// cleaned text -> SentencePiece ids, `</s>` appended, truncated and padded to max_length, plus a mask.
// Built on libsentencepiece (through the SentencePiece plug-in) with the checkpoint's spiece.model;
// without the plug-in the constructor throws skyreels::Error(Unsupported).

struct T5Tokens {
  std::vector<std::int64_t> ids;   // max_length ids: the prompt, </s>, then pad ids
  std::vector<std::int64_t> mask;  // 1 for the prompt's tokens and </s>, 0 for padding
  std::int64_t length = 0;         // number of ones in mask

  at::Tensor ids_tensor() const;   // [1, max_length] int64 (CPU)
  at::Tensor mask_tensor() const;  // [1, max_length] int64 (CPU)
};

class T5Tokenizer {
public:
  static constexpr std::int64_t kPadId = 0;
  static constexpr std::int64_t kEosId = 1;
  static constexpr std::int64_t kDefaultMaxLength = 512;

  // `path`: spiece.model, or a folder holding it (google/umt5-xxl/ or a diffusers tokenizer/ folder).
  // A missing or unreadable model is a skyreels::Error naming the file.
  explicit T5Tokenizer(const std::string& path, std::int64_t max_length = kDefaultMaxLength);
  ~T5Tokenizer();
  T5Tokenizer(T5Tokenizer&&) noexcept;
  T5Tokenizer& operator=(T5Tokenizer&&) noexcept;

  // Cleans the text (clean_prompt), encodes, appends </s>, truncates (keeping </s> last) and pads.
  T5Tokens encode(const std::string& text) const;
  // The SentencePiece ids of text as given: no cleaning, no </s>, no truncation.
  std::vector<int> encode_raw(const std::string& text) const;

  std::int64_t max_length() const noexcept { return max_length_; }
  std::int64_t vocab_size() const;
  const std::string& model_path() const noexcept { return path_; }

private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string path_;
  std::int64_t max_length_;
};

// The reference's prompt cleaning (clean="whitespace"): ftfy.fix_text, html.unescape twice, strip,
// whitespace runs to one space, strip. ftfy is approximated by what matters for prompts (control
// characters removed, curly quotes straightened, HTML entities unescaped when the text has no '<');
// its Unicode normalisation and width folding are left to SentencePiece's own NFKC normaliser.
// Available in every build (no libsentencepiece needed).
std::string clean_prompt(const std::string& text);
// Python's html.unescape: named entities (the common subset, see the .cpp) and numeric references
// &#NNN; / &#xHH; with its replacements of invalid code points.
std::string html_unescape(const std::string& text);

}  // namespace skyreels::model
