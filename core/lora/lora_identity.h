#pragma once

#include <vector>

#include "skyreels/settings.h"

namespace skyreels::lora {

// Records each LoRA file's name, size and content hash (io/content_hash.h) in its setting, or, for a
// setting that has them already (restored from a video or a settings file), checks that the file still
// has that size and content. Throws Error naming the file: NotFound when it is missing or not a regular
// file, BadArgument when it changed since it was recorded. A file is hashed once per process while its
// size and modification time stay the same, so a queue of jobs reads it once.
void record_lora_files(std::vector<LoraSetting>& loras);

}  // namespace skyreels::lora
