#pragma once

#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "skyreels/settings.h"

namespace skyreels::cli {

// A command line that cannot be run: the message says which option and why (exit code 2).
class UsageError : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

// `skyreels-cli generate` as parsed. Settings come in layers: the model folder's recommended
// settings (or the reference's defaults), then --settings FILE, then --from-video FILE, then each
// option given on the command line, in order.
struct GenerateOptions {
  std::string model;          // empty: the embedded demo model
  std::string settings_file;  // JSON as written by to_json(GenerationSettings)
  std::string from_video;     // a video this program made: its settings are restored
  std::vector<std::function<void(GenerationSettings&)>> overrides;
  std::optional<double> seconds;  // length in seconds, snapped to a valid frame count after the overrides
  bool random_seed = false;       // --seed random (also when no seed is set anywhere)
  bool seed_given = false;

  std::string start_image, end_image, extend_video;

  std::string output;  // .mp4 (H.264), .mkv (FFV1, lossless) or .safetensors (uint8 frames); empty: a name
  int crf = 18;
  std::string preset = "medium";
  bool overwrite = false;

  std::string device = "auto";  // auto: the first CUDA device when there is one, else the CPU
  bool reference_path = false;  // the reference's execution choices (for comparisons)
  std::optional<std::pair<std::int64_t, std::int64_t>> vae_tile;  // tile, overlap in latent pixels
  bool prompt_cache = true;
  int gpus = 1;  // processes splitting the DiT's calls (one GPU each; on the CPU, gloo processes)
  std::string parallel = "auto";  // how they split them: auto, ulysses or cfg
  bool json = false;   // events as JSON lines on stdout
  bool quiet = false;  // no progress on stderr
};

// Throws UsageError. `--help` is handled by the caller.
GenerateOptions parse_generate_options(const std::vector<std::string>& args);

// The settings the options describe on top of `base` (overrides, then seconds); the seed is drawn
// when random. Not validated: the engine does that with its own messages.
GenerationSettings apply_options(const GenerateOptions& options, GenerationSettings base);

// Whether apply_options draws a random seed (every rank of a multi-process run must get the same one).
bool draws_seed(const GenerateOptions& options);

const char* generate_usage();

}  // namespace skyreels::cli
