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
std::string apply_first_rule(const std::vector<Rule>& rules, const std::string& key) {
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

// Decoder residual blocks are grouped by diffusers as up_blocks.i.resnets.j, the upsamplers as
// up_blocks.i.upsamplers.0; the reference numbers them flat: 0-2 | 3 | 4-6 | 7 | 8-10 | 11 | 12-14.
std::string vae_up_block_index(const std::smatch& m) {
  const int block = std::stoi(m[1]);
  if (m[2] == "upsamplers") return std::to_string(block * 4 + 3);
  return std::to_string(block * 4 + std::stoi(m[3]));
}

const std::vector<Rule>& vae_residual_rules() {
  // Inside a residual block: residual.{0,2,3,6} and shortcut.
  static const std::vector<Rule> rules = {
      {std::regex(R"(\.norm1\.)"), ".residual.0."},
      {std::regex(R"(\.conv1\.)"), ".residual.2."},
      {std::regex(R"(\.norm2\.)"), ".residual.3."},
      {std::regex(R"(\.conv2\.)"), ".residual.6."},
      {std::regex(R"(\.conv_shortcut\.)"), ".shortcut."},
  };
  return rules;
}

const std::vector<Rule>& vae_rules() {
  static const std::vector<Rule> rules = {
      {std::regex(R"(^quant_conv\.)"), "conv1."},
      {std::regex(R"(^post_quant_conv\.)"), "conv2."},
      {std::regex(R"(^(encoder|decoder)\.conv_in\.)"), "$1.conv1."},
      {std::regex(R"(^(encoder|decoder)\.norm_out\.)"), "$1.head.0."},
      {std::regex(R"(^(encoder|decoder)\.conv_out\.)"), "$1.head.2."},
      {std::regex(R"(^(encoder|decoder)\.mid_block\.resnets\.0\.)"), "$1.middle.0."},
      {std::regex(R"(^(encoder|decoder)\.mid_block\.attentions\.0\.)"), "$1.middle.1."},
      {std::regex(R"(^(encoder|decoder)\.mid_block\.resnets\.1\.)"), "$1.middle.2."},
      {std::regex(R"(^encoder\.down_blocks\.)"), "encoder.downsamples."},
  };
  return rules;
}

}  // namespace

std::string vae_key_from_diffusers(const std::string& key) {
  std::string renamed = key;
  static const std::regex up_block(R"(^decoder\.up_blocks\.(\d+)\.(resnets|upsamplers)\.(\d+)\.)");
  std::smatch m;
  if (std::regex_search(key, m, up_block)) {
    renamed = "decoder.upsamples." + vae_up_block_index(m) + "." + m.suffix().str();
  } else {
    renamed = apply_first_rule(vae_rules(), key);
  }
  // Residual-block parts (not the top-level conv1/conv2, which the first rules renamed already).
  const bool in_block = renamed.find(".downsamples.") != std::string::npos ||
                        renamed.find(".upsamples.") != std::string::npos ||
                        renamed.find(".middle.0.") != std::string::npos || renamed.find(".middle.2.") != std::string::npos;
  return in_block ? apply_first_rule(vae_residual_rules(), renamed) : renamed;
}

bool is_diffusers_vae(const std::vector<std::string>& keys) {
  return std::any_of(keys.begin(), keys.end(), [](const std::string& k) {
    return k.rfind("quant_conv.", 0) == 0 || k.find(".conv_in.") != std::string::npos ||
           k.find(".up_blocks.") != std::string::npos;
  });
}

std::string dit_key_from_diffusers(const std::string& key) { return apply_first_rule(dit_rules(), key); }

bool is_diffusers_dit(const std::vector<std::string>& keys) {
  return std::any_of(keys.begin(), keys.end(), [](const std::string& k) {
    return k.rfind("condition_embedder.", 0) == 0 || k == "scale_shift_table" || k.rfind("proj_out.", 0) == 0;
  });
}

}  // namespace skyreels::io
