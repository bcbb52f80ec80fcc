#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "skyreels/models.h"

namespace skyreels::hub {

// A part every official checkpoint folder holds, under one of its names (the .pth weights may have
// been converted to .safetensors beside them), with the least size a whole copy of it has.
struct ExpectedPart {
  std::string what;                 // "the VAE"
  std::vector<std::string> names;   // paths in the folder, the official name first
  std::uint64_t official_min_bytes; // for an official model (the published file is larger); else 1 byte
};

// The parts beside the DiT (config, VAE, umT5 encoder, tokenizer), in the official layout. The DiT's
// files differ per model (one file or shards) and are checked from the folder's own index and shard names.
const std::vector<ExpectedPart>& official_layout_parts();

// The least size of the DiT's weights of an official model (bf16), by name; 0 for any other name.
std::uint64_t official_dit_min_bytes(const std::string& name);

// DiT shapes of the official models (config.json's dim and num_layers), which name a folder.
struct DitShape {
  const char* family;  // "DF-1.3B", "DF-14B"
  std::int64_t dim, num_layers;
};
const std::vector<DitShape>& official_dit_shapes();

}  // namespace skyreels::hub
