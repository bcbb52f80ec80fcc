#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/hub/fake_hub.h"

namespace skyreels::test {

// A safetensors file of one float32 tensor of `values` elements (zeros), whole and valid.
inline std::string safetensors_bytes(std::size_t values) {
  nlohmann::json header = {{"w", {{"dtype", "F32"}, {"shape", {values}}, {"data_offsets", {0, values * 4}}}}};
  auto text = header.dump();
  while (text.size() % 8) text += ' ';
  std::string out(8, '\0');
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((static_cast<std::uint64_t>(text.size()) >> (8 * i)) & 0xff);
  out += text;
  std::string data(values * 4, '\0');
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 131) & 0xff);
  return out + data;
}

// config.json of a DiT of this shape.
inline std::string dit_config(std::int64_t dim, std::int64_t layers, std::int64_t ffn) {
  return nlohmann::json{{"_class_name", "WanModel"}, {"dim", dim}, {"num_layers", layers}, {"ffn_dim", ffn},
                        {"in_dim", 16}, {"out_dim", 16}, {"num_heads", 2}}.dump(2);
}

// A tiny model in the official layout (a demo-sized DiT): every part present and whole. The DiT is
// `dit_values` floats (at least ~200 K for the dims used here, or the finder calls it too small).
inline std::vector<FakeFile> tiny_model_files(std::size_t dit_values = 300000) {
  return {
      {"config.json", dit_config(128, 2, 256), false},
      {"model.safetensors", safetensors_bytes(dit_values), true},
      {"Wan2.1_VAE.safetensors", safetensors_bytes(1000), true},
      {"models_t5_umt5-xxl-enc-bf16.safetensors", safetensors_bytes(1001), true},
      {"google/umt5-xxl/spiece.model", std::string(5000, 's'), true},
      {"README.md", "# tiny\n", false},
  };
}

}  // namespace skyreels::test
