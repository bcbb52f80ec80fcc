// The diffusers -> official renames against the name pairs listed in the reference spec
// (skyreels-df-reference.md, "Diffusers variant"; the official names of section 2.6 and of the VAE
// section), written out by hand, one pair per line: no name here comes from the table under test.

#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "io/key_map.h"

namespace io = skyreels::io;

namespace {

using NamePairs = std::vector<std::pair<std::string, std::string>>;  // {diffusers, official}

// DiT, DF-1.3B keys. A two-digit block index, so a rule that only takes one digit fails.
const NamePairs kDitPairs = {
    {"condition_embedder.time_embedder.linear_1.weight", "time_embedding.0.weight"},
    {"condition_embedder.time_embedder.linear_1.bias", "time_embedding.0.bias"},
    {"condition_embedder.time_embedder.linear_2.weight", "time_embedding.2.weight"},
    {"condition_embedder.time_embedder.linear_2.bias", "time_embedding.2.bias"},
    {"condition_embedder.text_embedder.linear_1.weight", "text_embedding.0.weight"},
    {"condition_embedder.text_embedder.linear_1.bias", "text_embedding.0.bias"},
    {"condition_embedder.text_embedder.linear_2.weight", "text_embedding.2.weight"},
    {"condition_embedder.text_embedder.linear_2.bias", "text_embedding.2.bias"},
    {"condition_embedder.time_proj.weight", "time_projection.1.weight"},
    {"condition_embedder.time_proj.bias", "time_projection.1.bias"},
    {"scale_shift_table", "head.modulation"},
    {"proj_out.weight", "head.head.weight"},
    {"proj_out.bias", "head.head.bias"},
    {"blocks.13.scale_shift_table", "blocks.13.modulation"},
    {"blocks.13.attn1.to_q.weight", "blocks.13.self_attn.q.weight"},
    {"blocks.13.attn1.to_q.bias", "blocks.13.self_attn.q.bias"},
    {"blocks.13.attn1.to_k.weight", "blocks.13.self_attn.k.weight"},
    {"blocks.13.attn1.to_v.bias", "blocks.13.self_attn.v.bias"},
    {"blocks.13.attn1.to_out.0.weight", "blocks.13.self_attn.o.weight"},
    {"blocks.13.attn1.to_out.0.bias", "blocks.13.self_attn.o.bias"},
    {"blocks.13.attn1.norm_q.weight", "blocks.13.self_attn.norm_q.weight"},
    {"blocks.13.attn1.norm_k.weight", "blocks.13.self_attn.norm_k.weight"},
    {"blocks.13.attn2.to_q.weight", "blocks.13.cross_attn.q.weight"},
    {"blocks.13.attn2.to_k.bias", "blocks.13.cross_attn.k.bias"},
    {"blocks.13.attn2.to_v.weight", "blocks.13.cross_attn.v.weight"},
    {"blocks.13.attn2.to_out.0.weight", "blocks.13.cross_attn.o.weight"},
    {"blocks.13.attn2.norm_q.weight", "blocks.13.cross_attn.norm_q.weight"},
    {"blocks.13.attn2.norm_k.weight", "blocks.13.cross_attn.norm_k.weight"},
    // The cross-attention LayerNorm: the reference's norm3 is diffusers' norm2.
    {"blocks.13.norm2.weight", "blocks.13.norm3.weight"},
    {"blocks.13.norm2.bias", "blocks.13.norm3.bias"},
    {"blocks.13.ffn.net.0.proj.weight", "blocks.13.ffn.0.weight"},
    {"blocks.13.ffn.net.0.proj.bias", "blocks.13.ffn.0.bias"},
    {"blocks.13.ffn.net.2.weight", "blocks.13.ffn.2.weight"},
    {"blocks.13.ffn.net.2.bias", "blocks.13.ffn.2.bias"},
    {"blocks.0.attn1.to_q.weight", "blocks.0.self_attn.q.weight"},
    // Same name in both layouts ("fps keys keep their names").
    {"patch_embedding.weight", "patch_embedding.weight"},
    {"patch_embedding.bias", "patch_embedding.bias"},
    {"fps_embedding.weight", "fps_embedding.weight"},
    {"fps_projection.0.weight", "fps_projection.0.weight"},
    {"fps_projection.2.bias", "fps_projection.2.bias"},
};

// Wan VAE. Decoder upsamples 0-2 | 3 | 4-6 | 7 | 8-10 | 11 | 12-14 are up_blocks.i.resnets.0-2, with
// the resample (3, 7, 11) as up_blocks.i.upsamplers.0; inside a residual block residual.{0,2,3,6} are
// norm1/conv1/norm2/conv2 and shortcut is conv_shortcut.
const NamePairs kVaePairs = {
    {"quant_conv.weight", "conv1.weight"},
    {"quant_conv.bias", "conv1.bias"},
    {"post_quant_conv.weight", "conv2.weight"},
    {"post_quant_conv.bias", "conv2.bias"},
    {"encoder.conv_in.weight", "encoder.conv1.weight"},
    {"encoder.conv_in.bias", "encoder.conv1.bias"},
    {"decoder.conv_in.weight", "decoder.conv1.weight"},
    {"encoder.down_blocks.0.norm1.gamma", "encoder.downsamples.0.residual.0.gamma"},
    {"encoder.down_blocks.0.conv1.weight", "encoder.downsamples.0.residual.2.weight"},
    {"encoder.down_blocks.0.norm2.gamma", "encoder.downsamples.0.residual.3.gamma"},
    {"encoder.down_blocks.0.conv2.bias", "encoder.downsamples.0.residual.6.bias"},
    {"encoder.down_blocks.3.conv_shortcut.weight", "encoder.downsamples.3.shortcut.weight"},
    {"encoder.down_blocks.2.resample.1.weight", "encoder.downsamples.2.resample.1.weight"},
    {"encoder.down_blocks.5.time_conv.weight", "encoder.downsamples.5.time_conv.weight"},
    {"encoder.down_blocks.10.conv2.weight", "encoder.downsamples.10.residual.6.weight"},
    {"encoder.mid_block.resnets.0.norm1.gamma", "encoder.middle.0.residual.0.gamma"},
    {"encoder.mid_block.resnets.0.conv1.weight", "encoder.middle.0.residual.2.weight"},
    {"encoder.mid_block.attentions.0.norm.gamma", "encoder.middle.1.norm.gamma"},
    {"encoder.mid_block.attentions.0.to_qkv.weight", "encoder.middle.1.to_qkv.weight"},
    {"encoder.mid_block.attentions.0.proj.bias", "encoder.middle.1.proj.bias"},
    {"encoder.mid_block.resnets.1.conv2.weight", "encoder.middle.2.residual.6.weight"},
    {"encoder.norm_out.gamma", "encoder.head.0.gamma"},
    {"encoder.conv_out.weight", "encoder.head.2.weight"},
    {"decoder.mid_block.resnets.1.norm2.gamma", "decoder.middle.2.residual.3.gamma"},
    {"decoder.up_blocks.0.resnets.0.conv1.weight", "decoder.upsamples.0.residual.2.weight"},
    {"decoder.up_blocks.0.resnets.2.norm1.gamma", "decoder.upsamples.2.residual.0.gamma"},
    {"decoder.up_blocks.0.upsamplers.0.resample.1.weight", "decoder.upsamples.3.resample.1.weight"},
    {"decoder.up_blocks.0.upsamplers.0.time_conv.weight", "decoder.upsamples.3.time_conv.weight"},
    {"decoder.up_blocks.1.resnets.0.conv1.weight", "decoder.upsamples.4.residual.2.weight"},
    {"decoder.up_blocks.1.resnets.0.conv_shortcut.weight", "decoder.upsamples.4.shortcut.weight"},
    {"decoder.up_blocks.1.upsamplers.0.resample.1.bias", "decoder.upsamples.7.resample.1.bias"},
    {"decoder.up_blocks.2.resnets.1.conv2.weight", "decoder.upsamples.9.residual.6.weight"},
    {"decoder.up_blocks.2.upsamplers.0.resample.1.weight", "decoder.upsamples.11.resample.1.weight"},
    {"decoder.up_blocks.3.resnets.0.norm1.gamma", "decoder.upsamples.12.residual.0.gamma"},
    {"decoder.up_blocks.3.resnets.2.conv2.bias", "decoder.upsamples.14.residual.6.bias"},
    {"decoder.norm_out.gamma", "decoder.head.0.gamma"},
    {"decoder.conv_out.bias", "decoder.head.2.bias"},
};

std::vector<std::string> firsts(const NamePairs& pairs) {
  std::vector<std::string> out;
  for (const auto& p : pairs) out.push_back(p.first);
  return out;
}

std::vector<std::string> seconds(const NamePairs& pairs) {
  std::vector<std::string> out;
  for (const auto& p : pairs) out.push_back(p.second);
  return out;
}

}  // namespace

TEST(KeyMap, DitDiffusersNamesBecomeTheOfficialNames) {
  for (const auto& [diffusers, official] : kDitPairs)
    EXPECT_EQ(io::dit_key_from_diffusers(diffusers), official) << diffusers;
}

TEST(KeyMap, DitOfficialNamesPassThroughUnchanged) {
  // A loader may rename a mixed or already official list: official names must be fixed points.
  for (const auto& official : seconds(kDitPairs)) EXPECT_EQ(io::dit_key_from_diffusers(official), official);
  EXPECT_EQ(io::dit_key_from_diffusers("blocks.4.norm3.weight"), "blocks.4.norm3.weight");
}

TEST(KeyMap, DitRenameIsOneToOne) {
  std::set<std::string> official;
  for (const auto& diffusers : firsts(kDitPairs)) official.insert(io::dit_key_from_diffusers(diffusers));
  EXPECT_EQ(official.size(), kDitPairs.size());
}

TEST(KeyMap, DitRulesAreAnchoredAtTheStartOfTheName) {
  // Names that only contain a diffusers part further in are not the diffusers tensors.
  EXPECT_EQ(io::dit_key_from_diffusers("extra.proj_out.weight"), "extra.proj_out.weight");
  EXPECT_EQ(io::dit_key_from_diffusers("x.blocks.1.attn1.to_q.weight"), "x.blocks.1.attn1.to_q.weight");
  EXPECT_EQ(io::dit_key_from_diffusers("blocks.1.scale_shift_table.extra"), "blocks.1.scale_shift_table.extra");
}

TEST(KeyMap, DetectsTheDiffusersDitLayout) {
  EXPECT_TRUE(io::is_diffusers_dit(firsts(kDitPairs)));
  EXPECT_FALSE(io::is_diffusers_dit(seconds(kDitPairs)));
  EXPECT_FALSE(io::is_diffusers_dit({}));
  // Any one of its top-level names is enough.
  EXPECT_TRUE(io::is_diffusers_dit({"patch_embedding.weight", "scale_shift_table"}));
  EXPECT_TRUE(io::is_diffusers_dit({"proj_out.weight"}));
  EXPECT_TRUE(io::is_diffusers_dit({"condition_embedder.time_proj.bias"}));
}

TEST(KeyMap, VaeDiffusersNamesBecomeTheOfficialNames) {
  for (const auto& [diffusers, official] : kVaePairs)
    EXPECT_EQ(io::vae_key_from_diffusers(diffusers), official) << diffusers;
}

TEST(KeyMap, VaeRenameIsOneToOne) {
  std::set<std::string> official;
  for (const auto& diffusers : firsts(kVaePairs)) official.insert(io::vae_key_from_diffusers(diffusers));
  EXPECT_EQ(official.size(), kVaePairs.size());
}

TEST(KeyMap, VaeEveryDecoderUpsampleIndexIsReached) {
  // 4 up blocks of 3 residual blocks and (but the last) one upsampler give the flat indices 0..14.
  std::set<std::string> indices;
  for (int block = 0; block < 4; ++block) {
    for (int resnet = 0; resnet < 3; ++resnet) {
      const auto name = "decoder.up_blocks." + std::to_string(block) + ".resnets." + std::to_string(resnet) + ".conv1.weight";
      indices.insert(io::vae_key_from_diffusers(name));
    }
    if (block < 3)
      indices.insert(io::vae_key_from_diffusers("decoder.up_blocks." + std::to_string(block) + ".upsamplers.0.resample.1.weight"));
  }
  std::set<std::string> expected;
  for (int i = 0; i < 15; ++i)
    expected.insert("decoder.upsamples." + std::to_string(i) +
                    (i % 4 == 3 ? ".resample.1.weight" : ".residual.2.weight"));
  EXPECT_EQ(indices, expected);
}

TEST(KeyMap, DetectsTheDiffusersVaeLayout) {
  EXPECT_TRUE(io::is_diffusers_vae(firsts(kVaePairs)));
  EXPECT_FALSE(io::is_diffusers_vae(seconds(kVaePairs)));
  EXPECT_FALSE(io::is_diffusers_vae({}));
  EXPECT_TRUE(io::is_diffusers_vae({"encoder.conv1.weight", "quant_conv.weight"}));
  EXPECT_TRUE(io::is_diffusers_vae({"decoder.up_blocks.0.resnets.0.conv1.weight"}));
}
