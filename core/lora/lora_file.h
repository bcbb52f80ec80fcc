#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace skyreels::lora {

// The key layouts LoRA files for Wan / SkyReels come in (../shared/spec/product-anchors.md, "LoRA key formats").
enum class LoraFormat {
  WanNative,  // diffusion_model. / model.diffusion_model. / no prefix, official module names (also ComfyUI)
  Kohya,      // lora_unet_blocks_0_self_attn_q (kohya, musubi) and lora_unet__blocks_... (VideoX-Fun)
  Diffusers,  // transformer.blocks.0.attn1.to_q, also raw PEFT (base_model.model. ... .default)
};

const char* to_string(LoraFormat format);

enum class DeltaKind {
  LowRank,         // ΔW = alpha / rank × up · down
  LowRankBias,     // Δb = alpha / rank × up bias (PEFT lora_B.bias), scaled as its pair
  WeightDiff,      // ΔW = diff (.diff)
  BiasDiff,        // Δb = diff (.diff_b)
  ModulationDiff,  // Δmodulation = diff (.diff_m, modulation.diff)
};

const char* to_string(DeltaKind kind);

// One parameter of the DiT that a LoRA file changes, and where its delta is in the file.
struct LoraEntry {
  std::string target;  // the official DiT parameter name: blocks.0.self_attn.q.weight, blocks.0.modulation
  DeltaKind kind = DeltaKind::LowRank;
  // LowRank and LowRankBias: rank = down.shape[0]; alpha from the file's .alpha, or rank when it has none.
  std::int64_t rank = 0;
  double alpha = 0.0;
  // Source keys as the file spells them; "" where a kind has none (no up/down for a diff, no alpha key).
  std::string up_key;     // LowRank: lora_up / lora_B weight; LowRankBias: lora_up / lora_B bias
  std::string down_key;   // LowRank, LowRankBias: lora_down / lora_A weight
  std::string alpha_key;  // LowRank, LowRankBias: the .alpha scalar, if present
  std::string diff_key;   // WeightDiff, BiasDiff, ModulationDiff
  std::vector<std::int64_t> up_shape;    // of up_key
  std::vector<std::int64_t> down_shape;  // of down_key
  std::vector<std::int64_t> diff_shape;  // of diff_key

  // The file's keys this entry reads, in the order up, down, alpha, diff (those present).
  std::vector<std::string> source_keys() const;
};

// What a LoRA file holds for our DiT.
struct LoraFile {
  std::string path;
  LoraFormat format = LoraFormat::WanNative;
  std::vector<LoraEntry> entries;  // sorted by target, then kind
  // Image-conditioning keys (k_img, v_img, norm_k_img, img_emb; diffusers add_k_proj, add_v_proj,
  // norm_added_k, image_embedder): skipped for a T2V model.
  std::vector<std::string> skipped_image_keys;
  std::vector<std::string> unmatched_keys;  // keys that name no DiT module of this format
};

// Opens a .safetensors LoRA, detects its format and maps its keys onto the official DiT parameter names. Reads
// every tensor it maps (not only the header) to reject NaN/Inf. Throws skyreels::Error naming the file and the key:
// NotFound when no key maps onto the DiT or one half of an up/down pair is missing, ShapeMismatch when up and down
// disagree on the rank, CorruptFile for NaN/Inf or a malformed alpha, BadArgument when two keys give the same
// delta; errors of the safetensors reader as they come.
LoraFile read_lora_file(const std::string& path);

// The model's parameters by name (e.g. from WanDit::named_parameters()), shapes only.
using ParameterShapes = std::map<std::string, std::vector<std::int64_t>>;

// Checks each entry against the model: its target exists (NotFound), and up · down, the diff or the bias has the
// shape of the parameter (ShapeMismatch; leading dimensions of size 1 are ignored, so a [6, dim] modulation delta
// fits a [1, 6, dim] parameter). The message names the file, the key, and both shapes.
void check_lora_shapes(const LoraFile& lora, const ParameterShapes& parameters);

}  // namespace skyreels::lora
