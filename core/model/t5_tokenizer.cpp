#include "model/t5_tokenizer.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string_view>

#include <ATen/ATen.h>

#include "model/sentencepiece/sentencepiece_model.h"
#include "skyreels/error.h"
#include "skyreels/log.h"

namespace skyreels::model {
namespace {

// --- UTF-8 ---------------------------------------------------------------------------------------

// Decodes UTF-8; each byte of a malformed sequence becomes U+FFFD (Python strings are always valid).
std::u32string decode_utf8(std::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    int extra = 0;
    char32_t cp = 0, min = 0;
    if (b0 < 0x80) { out.push_back(b0); ++i; continue; }
    if ((b0 & 0xE0) == 0xC0) { extra = 1; cp = b0 & 0x1F; min = 0x80; }
    else if ((b0 & 0xF0) == 0xE0) { extra = 2; cp = b0 & 0x0F; min = 0x800; }
    else if ((b0 & 0xF8) == 0xF0) { extra = 3; cp = b0 & 0x07; min = 0x10000; }
    else { out.push_back(0xFFFD); ++i; continue; }
    bool ok = true;
    for (int k = 1; ok && k <= extra; ++k) {
      if (i + k >= s.size()) { ok = false; break; }
      const auto b = static_cast<unsigned char>(s[i + k]);
      if ((b & 0xC0) != 0x80) { ok = false; break; }
      cp = (cp << 6) | (b & 0x3F);
    }
    if (!ok || cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<std::size_t>(extra) + 1;
  }
  return out;
}

void append_utf8(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

std::string encode_utf8(const std::u32string& s) {
  std::string out;
  out.reserve(s.size());
  for (const auto cp : s) append_utf8(out, cp);
  return out;
}

// Python's str.isspace(), which is what re's \s and str.strip() use on str.
bool is_python_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

// ftfy's remove_control_chars: C0 controls other than tab/newlines/form feed, DEL, deprecated format
// characters, the BOM, interlinear annotations, musical-symbol formatting and language tags.
bool is_ftfy_control(char32_t c) {
  return (c <= 0x08) || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC) || (c >= 0x1D173 && c <= 0x1D17A) ||
         (c >= 0xE0000 && c <= 0xE007F);
}

// ftfy's uncurl_quotes: curly single and double quotes to ASCII.
char32_t uncurl(char32_t c) {
  if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) return U'\'';
  if (c >= 0x201C && c <= 0x201F) return U'"';
  return c;
}

// --- HTML entities ---------------------------------------------------------------------------------

// Named references. The legacy ones (all of Latin-1 plus amp/lt/gt/quot) are recognised without the
// trailing ';' too, as html.unescape does; the others only with it.
struct Entities {
  std::map<std::string, std::u32string> names;  // "amp;" and, for legacy names, "amp"
  std::size_t longest = 0;
};

const Entities& entities() {
  static const Entities table = [] {
    Entities e;
    const auto add = [&](const std::string& name, char32_t cp, bool legacy) {
      e.names[name + ";"] = std::u32string(1, cp);
      if (legacy) e.names[name] = std::u32string(1, cp);
      e.longest = std::max(e.longest, name.size() + 1);
    };
    // U+00A0..U+00FF in order.
    static const char* const latin1[] = {
        "nbsp",   "iexcl",  "cent",   "pound",  "curren", "yen",    "brvbar", "sect",   "uml",    "copy",
        "ordf",   "laquo",  "not",    "shy",    "reg",    "macr",   "deg",    "plusmn", "sup2",   "sup3",
        "acute",  "micro",  "para",   "middot", "cedil",  "sup1",   "ordm",   "raquo",  "frac14", "frac12",
        "frac34", "iquest", "Agrave", "Aacute", "Acirc",  "Atilde", "Auml",   "Aring",  "AElig",  "Ccedil",
        "Egrave", "Eacute", "Ecirc",  "Euml",   "Igrave", "Iacute", "Icirc",  "Iuml",   "ETH",    "Ntilde",
        "Ograve", "Oacute", "Ocirc",  "Otilde", "Ouml",   "times",  "Oslash", "Ugrave", "Uacute", "Ucirc",
        "Uuml",   "Yacute", "THORN",  "szlig",  "agrave", "aacute", "acirc",  "atilde", "auml",   "aring",
        "aelig",  "ccedil", "egrave", "eacute", "ecirc",  "euml",   "igrave", "iacute", "icirc",  "iuml",
        "eth",    "ntilde", "ograve", "oacute", "ocirc",  "otilde", "ouml",   "divide", "oslash", "ugrave",
        "uacute", "ucirc",  "uuml",   "yacute", "thorn",  "yuml"};
    for (std::size_t i = 0; i < std::size(latin1); ++i) add(latin1[i], static_cast<char32_t>(0xA0 + i), true);
    for (const auto& [name, cp] : std::initializer_list<std::pair<const char*, char32_t>>{
             {"amp", U'&'}, {"AMP", U'&'}, {"lt", U'<'}, {"LT", U'<'}, {"gt", U'>'}, {"GT", U'>'},
             {"quot", U'"'}, {"QUOT", U'"'}, {"COPY", 0xA9}, {"REG", 0xAE}})
      add(name, cp, true);
    for (const auto& [name, cp] : std::initializer_list<std::pair<const char*, char32_t>>{
             {"apos", U'\''},  {"ensp", 0x2002},   {"emsp", 0x2003},   {"thinsp", 0x2009}, {"zwnj", 0x200C},
             {"zwj", 0x200D},  {"lrm", 0x200E},    {"rlm", 0x200F},    {"ndash", 0x2013},  {"mdash", 0x2014},
             {"lsquo", 0x2018}, {"rsquo", 0x2019}, {"sbquo", 0x201A},  {"ldquo", 0x201C},  {"rdquo", 0x201D},
             {"bdquo", 0x201E}, {"dagger", 0x2020}, {"Dagger", 0x2021}, {"bull", 0x2022},  {"hellip", 0x2026},
             {"permil", 0x2030}, {"prime", 0x2032}, {"Prime", 0x2033}, {"lsaquo", 0x2039}, {"rsaquo", 0x203A},
             {"oline", 0x203E}, {"frasl", 0x2044},  {"euro", 0x20AC},   {"trade", 0x2122},  {"larr", 0x2190},
             {"uarr", 0x2191},  {"rarr", 0x2192},   {"darr", 0x2193},   {"harr", 0x2194},   {"minus", 0x2212},
             {"infin", 0x221E}, {"ne", 0x2260},     {"le", 0x2264},     {"ge", 0x2265},     {"spades", 0x2660},
             {"clubs", 0x2663}, {"hearts", 0x2665}, {"diams", 0x2666},  {"OElig", 0x152},   {"oelig", 0x153},
             {"Scaron", 0x160}, {"scaron", 0x161},  {"Yuml", 0x178},    {"fnof", 0x192},    {"circ", 0x2C6},
             {"tilde", 0x2DC}})
      add(name, cp, false);
    // Greek letters: capitals U+0391..U+03A9 (no U+03A2), small U+03B1..U+03C9.
    static const char* const capitals[] = {"Alpha", "Beta", "Gamma", "Delta",   "Epsilon", "Zeta",  "Eta",
                                           "Theta", "Iota", "Kappa", "Lambda",  "Mu",      "Nu",    "Xi",
                                           "Omicron", "Pi", "Rho",   nullptr,   "Sigma",   "Tau",   "Upsilon",
                                           "Phi",   "Chi",  "Psi",   "Omega"};
    static const char* const smalls[] = {"alpha", "beta", "gamma", "delta",  "epsilon", "zeta", "eta",
                                         "theta", "iota", "kappa", "lambda", "mu",      "nu",   "xi",
                                         "omicron", "pi", "rho",   "sigmaf", "sigma",   "tau",  "upsilon",
                                         "phi",   "chi",  "psi",   "omega"};
    for (std::size_t i = 0; i < std::size(capitals); ++i) {
      if (capitals[i]) add(capitals[i], static_cast<char32_t>(0x391 + i), false);
      add(smalls[i], static_cast<char32_t>(0x3B1 + i), false);
    }
    return e;
  }();
  return table;
}

// html.unescape's numeric references: what a code point becomes.
std::u32string numeric_reference(std::uint64_t num, bool overflow) {
  // Windows-1252 for 0x80..0x9F, as browsers do (html5 "invalid_charrefs").
  static const std::array<char32_t, 32> cp1252 = {
      0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  if (overflow || num > 0x10FFFF || (num >= 0xD800 && num <= 0xDFFF) || num == 0) return U"\uFFFD";
  if (num == 0x0D) return U"\r";
  if (num >= 0x80 && num <= 0x9F) return std::u32string(1, cp1252[num - 0x80]);
  const bool invalid = (num >= 0x01 && num <= 0x08) || num == 0x0B || (num >= 0x0E && num <= 0x1F) ||
                       num == 0x7F || (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE;
  if (invalid) return U"";
  return std::u32string(1, static_cast<char32_t>(num));
}

bool is_digit(char32_t c) { return c >= U'0' && c <= U'9'; }
bool is_hex(char32_t c) { return is_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F'); }
int hex_value(char32_t c) { return is_digit(c) ? int(c - U'0') : (c >= U'a' ? int(c - U'a') + 10 : int(c - U'A') + 10); }

}  // namespace

// Python's pattern: &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)
std::string html_unescape(const std::string& text) {
  if (text.find('&') == std::string::npos) return text;
  const auto s = decode_utf8(text);
  std::u32string out;
  out.reserve(s.size());
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] != U'&') { out.push_back(s[i++]); continue; }
    std::size_t j = i + 1;
    if (j < s.size() && s[j] == U'#') {
      const bool hex = j + 1 < s.size() && (s[j + 1] == U'x' || s[j + 1] == U'X');
      std::size_t k = j + (hex ? 2 : 1);
      const std::size_t first = k;
      std::uint64_t num = 0;
      bool overflow = false;
      while (k < s.size() && (hex ? is_hex(s[k]) : is_digit(s[k]))) {
        const std::uint64_t digit = hex ? static_cast<std::uint64_t>(hex_value(s[k])) : static_cast<std::uint64_t>(s[k] - U'0');
        if (num > 0x10FFFF) overflow = true;
        else num = num * (hex ? 16 : 10) + digit;
        ++k;
      }
      if (k == first) { out.push_back(s[i++]); continue; }  // "&#" without digits stays
      if (k < s.size() && s[k] == U';') ++k;
      out += numeric_reference(num, overflow);
      i = k;
      continue;
    }
    // A name: up to 32 characters other than \t \n \f space < & # ;, then an optional ';'.
    std::size_t k = j;
    while (k < s.size() && k - j < 32 && s[k] != U'\t' && s[k] != U'\n' && s[k] != U'\f' && s[k] != U' ' &&
           s[k] != U'<' && s[k] != U'&' && s[k] != U'#' && s[k] != U';')
      ++k;
    if (k == j) { out.push_back(s[i++]); continue; }
    if (k < s.size() && s[k] == U';') ++k;
    const std::string name = encode_utf8(s.substr(j, k - j));
    const auto& table = entities().names;
    if (const auto it = table.find(name); it != table.end()) {
      out += it->second;
    } else {
      // The longest known prefix (legacy names need no ';'), the rest kept as text.
      bool found = false;
      const auto ref = s.substr(j, k - j);
      for (std::size_t x = ref.size() - 1; x > 1; --x) {
        const auto hit = table.find(encode_utf8(ref.substr(0, x)));
        if (hit != table.end()) {
          out += hit->second;
          out += ref.substr(x);
          found = true;
          break;
        }
      }
      if (!found) {
        out.push_back(U'&');
        out += ref;
      }
    }
    i = k;
  }
  return encode_utf8(out);
}

std::string clean_prompt(const std::string& text) {
  // ftfy.fix_text, approximately: its own entity pass runs only when the text does not look like HTML.
  std::string fixed = text.find('<') == std::string::npos ? html_unescape(text) : text;
  std::u32string chars;
  for (const auto c : decode_utf8(fixed))
    if (!is_ftfy_control(c)) chars.push_back(uncurl(c));
  fixed = encode_utf8(chars);
  // html.unescape(html.unescape(text)), then strip / collapse \s+ / strip.
  const auto unescaped = decode_utf8(html_unescape(html_unescape(fixed)));
  std::u32string out;
  bool pending_space = false;
  for (const auto c : unescaped) {
    if (is_python_space(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(U' ');
    pending_space = false;
    out.push_back(c);
  }
  return encode_utf8(out);
}

at::Tensor T5Tokens::ids_tensor() const {
  return at::tensor(ids, at::TensorOptions().dtype(at::kLong)).view({1, -1});
}

at::Tensor T5Tokens::mask_tensor() const {
  return at::tensor(mask, at::TensorOptions().dtype(at::kLong)).view({1, -1});
}

// --- the SentencePiece model ----------------------------------------------------------------------------

struct T5Tokenizer::Impl {
  explicit Impl(const std::string& path) : model(path) {}
  SentencePieceModel model;
  std::int64_t eos_id = kEosId, pad_id = kPadId;
};

namespace {

std::string find_spiece_model(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (!fs::is_directory(path, ec)) {
    if (!fs::exists(path, ec)) throw Error(ErrorCode::NotFound, path + ": no such SentencePiece model (spiece.model)");
    return path;
  }
  for (const auto* candidate : {"spiece.model", "tokenizer/spiece.model", "google/umt5-xxl/spiece.model"}) {
    const auto file = fs::path(path) / candidate;
    if (fs::exists(file, ec)) return file.string();
  }
  throw Error(ErrorCode::NotFound, path + ": no spiece.model in this folder (the tokenizer needs the SentencePiece "
                                          "model; a folder with only tokenizer.json is not supported)");
}

}  // namespace

T5Tokenizer::T5Tokenizer(const std::string& path, std::int64_t max_length)
    : path_(find_spiece_model(path)), max_length_(max_length) {
  if (max_length < 1) throw Error(ErrorCode::BadArgument, "tokenizer max length must be at least 1");
  impl_ = std::make_unique<Impl>(path_);
  // The model's own </s> and <pad> (umT5: 1 and 0); HF appends and pads with exactly these.
  if (impl_->model.eos_id() >= 0) impl_->eos_id = impl_->model.eos_id();
  if (impl_->model.pad_id() >= 0) impl_->pad_id = impl_->model.pad_id();
  if (impl_->eos_id != kEosId || impl_->pad_id != kPadId)
    logger("model")->warn("{}: </s> is id {} and <pad> id {} (umT5 uses {} and {})", path_, impl_->eos_id,
                          impl_->pad_id, kEosId, kPadId);
  logger("model")->debug("tokenizer {}: {} pieces, max length {}", path_, impl_->model.piece_size(), max_length_);
}

std::vector<int> T5Tokenizer::encode_raw(const std::string& text) const { return impl_->model.encode(text); }

std::int64_t T5Tokenizer::vocab_size() const { return impl_->model.piece_size(); }

T5Tokenizer::~T5Tokenizer() = default;
T5Tokenizer::T5Tokenizer(T5Tokenizer&&) noexcept = default;
T5Tokenizer& T5Tokenizer::operator=(T5Tokenizer&&) noexcept = default;

T5Tokens T5Tokenizer::encode(const std::string& text) const {
  const auto pieces = encode_raw(clean_prompt(text));
  // truncation=True with add_special_tokens: the text is cut to max_length - 1 so </s> stays last.
  const auto kept = std::min<std::int64_t>(static_cast<std::int64_t>(pieces.size()), max_length_ - 1);
  const auto eos = impl_->eos_id, pad = impl_->pad_id;
  T5Tokens t;
  t.ids.assign(static_cast<std::size_t>(max_length_), pad);
  t.mask.assign(static_cast<std::size_t>(max_length_), 0);
  for (std::int64_t i = 0; i < kept; ++i) t.ids[static_cast<std::size_t>(i)] = pieces[static_cast<std::size_t>(i)];
  t.ids[static_cast<std::size_t>(kept)] = eos;
  std::fill(t.mask.begin(), t.mask.begin() + kept + 1, 1);
  t.length = kept + 1;
  return t;
}

}  // namespace skyreels::model
