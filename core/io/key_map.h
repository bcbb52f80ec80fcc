#pragma once

#include <string>
#include <vector>

namespace skyreels::io {

// Renames from the diffusers checkpoint layouts to the official (reference) names the models use.
// One table per component; names that need no rename pass through unchanged.

// SkyReels-V2 / Wan transformer ("transformer/" folder of the -Diffusers repos).
std::string dit_key_from_diffusers(const std::string& key);
// True if the keys look like the diffusers transformer layout.
bool is_diffusers_dit(const std::vector<std::string>& keys);

// Wan VAE ("vae/" folder of the -Diffusers repos, AutoencoderKLWan).
std::string vae_key_from_diffusers(const std::string& key);
bool is_diffusers_vae(const std::vector<std::string>& keys);

}  // namespace skyreels::io
