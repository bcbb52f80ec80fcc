#include "io/key_map.h"

#include <algorithm>
#include <regex>
#include <utility>

namespace skyreels::io {
namespace {

struct Rule {
  std::regex pattern;
  std::string replacement;
};

// Applies the first matching rule of a table (rules are anchored at the start of the name).
std::string apply(const std::vector<Rule>& rules, const std::string& key) {
  for (const auto& rule : rules)
    if (std::regex_search(key, rule.pattern)) return std::regex_replace(key, rule.pattern, rule.replacement);
  return key;
}

const std::vector<Rule>& dit_rules() {
  static const std::vector<Rule> rules = {
      {std::regex(R"(^condition_embedder\.time_embedder\.linear_1\.)"), "time_embedding.0."},
      {std::regex(R"(^condition_embedder\.time_embedder\.linear_2\.)"), "time_embedding.2."},
      {std::regex(R"(^condition_embedder\.text_embedder\.linear_1\.)"), "text_embedding.0."},
      {std::regex(R"(^condition_embedder\.text_embedder\.linear_2\.)"), "text_embedding.2."},
      {std::regex(R"(^condition_embedder\.time_proj\.)"), "time_projection.1."},
      {std::regex(R"(^scale_shift_table$)"), "head.modulation"},
      {std::regex(R"(^proj_out\.)"), "head.head."},
      {std::regex(R"(^blocks\.(\d+)\.scale_shift_table$)"), "blocks.$1.modulation"},
      {std::regex(R"(^blocks\.(\d+)\.ffn\.net\.0\.proj\.)"), "blocks.$1.ffn.0."},
      {std::regex(R"(^blocks\.(\d+)\.ffn\.net\.2\.)"), "blocks.$1.ffn.2."},
      {std::regex(R"(^blocks\.(\d+)\.attn1\.to_q\.)"), "blocks.$1.self_attn.q."},
      {std::regex(R"(^blocks\.(\d+)\.attn1\.to_k\.)"), "blocks.$1.self_attn.k."},
      {std::regex(R"(^blocks\.(\d+)\.attn1\.to_v\.)"), "blocks.$1.self_attn.v."},
      {std::regex(R"(^blocks\.(\d+)\.attn1\.to_out\.0\.)"), "blocks.$1.self_attn.o."},
      {std::regex(R"(^blocks\.(\d+)\.attn1\.norm_q\.)"), "blocks.$1.self_attn.norm_q."},
      {std::regex(R"(^blocks\.(\d+)\.attn1\.norm_k\.)"), "blocks.$1.self_attn.norm_k."},
      {std::regex(R"(^blocks\.(\d+)\.attn2\.to_q\.)"), "blocks.$1.cross_attn.q."},
      {std::regex(R"(^blocks\.(\d+)\.attn2\.to_k\.)"), "blocks.$1.cross_attn.k."},
      {std::regex(R"(^blocks\.(\d+)\.attn2\.to_v\.)"), "blocks.$1.cross_attn.v."},
      {std::regex(R"(^blocks\.(\d+)\.attn2\.to_out\.0\.)"), "blocks.$1.cross_attn.o."},
      {std::regex(R"(^blocks\.(\d+)\.attn2\.norm_q\.)"), "blocks.$1.cross_attn.norm_q."},
      {std::regex(R"(^blocks\.(\d+)\.attn2\.norm_k\.)"), "blocks.$1.cross_attn.norm_k."},
      // diffusers' norm2 is the cross-attention LayerNorm, the reference's norm3.
      {std::regex(R"(^blocks\.(\d+)\.norm2\.)"), "blocks.$1.norm3."},
  };
  return rules;
}

}  // namespace

std::string dit_key_from_diffusers(const std::string& key) { return apply(dit_rules(), key); }

bool is_diffusers_dit(const std::vector<std::string>& keys) {
  return std::any_of(keys.begin(), keys.end(), [](const std::string& k) {
    return k.rfind("condition_embedder.", 0) == 0 || k == "scale_shift_table" || k.rfind("proj_out.", 0) == 0;
  });
}

}  // namespace skyreels::io
