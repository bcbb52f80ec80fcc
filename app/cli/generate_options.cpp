#include "generate_options.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include <sys/stat.h>

#include "skyreels/limits.h"

namespace skyreels::cli {
namespace {

long long to_integer(const std::string& option, const std::string& text, long long min, long long max) {
  char* end = nullptr;
  errno = 0;
  const long long value = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE)
    throw UsageError(option + " needs a whole number, got \"" + text + "\"");
  if (value < min || value > max)
    throw UsageError(option + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                     text);
  return value;
}

double to_number(const std::string& option, const std::string& text, double min, double max) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || !std::isfinite(value))
    throw UsageError(option + " needs a number, got \"" + text + "\"");
  if (value < min || value > max)
    throw UsageError(option + " must be between " + std::to_string(min) + " and " + std::to_string(max) + ", got " +
                     text);
  return value;
}

// FILE[:STRENGTH]: the strength is what follows the last colon when the whole text is not a file itself
// (a path may hold colons).
LoraSetting parse_lora(const std::string& text) {
  LoraSetting lora;
  lora.path = text;
  struct stat info {};
  const auto colon = text.rfind(':');
  if (colon != std::string::npos && ::stat(text.c_str(), &info) != 0) {
    lora.path = text.substr(0, colon);
    lora.strength = to_number("--lora " + lora.path + ": strength", text.substr(colon + 1), -limits::kMaxLoraStrength,
                              limits::kMaxLoraStrength);
  }
  if (lora.path.empty()) throw UsageError("--lora needs a file, got \"" + text + "\"");
  if (::stat(lora.path.c_str(), &info) != 0) throw UsageError("--lora: no such file " + lora.path);
  if (!S_ISREG(info.st_mode)) throw UsageError("--lora: " + lora.path + " is not a regular file");
  return lora;
}

// "1000,750,500,250": the explicit timestep list (its range and order are the settings' validation).
std::vector<int> parse_timesteps(const std::string& option, const std::string& text) {
  std::vector<int> list;
  std::size_t start = 0;
  while (true) {
    const auto comma = text.find(',', start);
    list.push_back(static_cast<int>(
        to_integer(option, text.substr(start, comma == std::string::npos ? std::string::npos : comma - start), 1, 1000)));
    if (comma == std::string::npos) break;
    if (list.size() >= static_cast<std::size_t>(limits::kMaxSteps)) throw UsageError(option + ": too many timesteps");
    start = comma + 1;
  }
  return list;
}

}  // namespace

const char* generate_usage() {
  return "usage: skyreels-cli generate [options]\n"
         "\n"
         "model and settings:\n"
         "  --model DIR              SkyReels-V2-DF folder (official or diffusers layout); default: the demo model\n"
         "  --settings FILE          settings JSON (as stored in a produced video); options below override it\n"
         "  --from-video FILE        restore the settings (prompts, seed, ...) of a video made by SkyReels Studio\n"
         "  --prompt TEXT            what to show              --prompt-file FILE   the prompt from a file\n"
         "  --negative-prompt TEXT   what to avoid (default: the reference's negative prompt)\n"
         "  --resolution R           540p, 720p, 540p-portrait, 720p-portrait or WxH (multiples of 16)\n"
         "  --height H --width W\n"
         "  --frames N               1 + 4k frames            --seconds S   length, snapped to a valid count\n"
         "  --fps N                  output rate (24)\n"
         "  --steps N (30)  --shift X (8)  --guidance X (6; 1 = no guidance)  --seed N|random (random)\n"
         "  --sampler unipc|euler    the solver: unipc (the reference's, default) or flow-matching euler\n"
         "  --timesteps T,T,...      euler on these timesteps (1..1000, decreasing, shifted by --shift; sets the\n"
         "                           steps), e.g. 1000,750,500,250; --steps N goes back to N steps of the formula\n"
         "  --few-step               the preset for step-distillation LoRAs (lightx2v, CausVid): --sampler euler\n"
         "                           --timesteps 1000,750,500,250 --shift 5 --guidance 1 (one DiT call per row,\n"
         "                           no negative prompt encoded); options after it override it\n"
         "  --mode sync|async        async = --ar-step 5 --causal-block-size 5 unless given\n"
         "  --ar-step N  --causal-block-size N\n"
         "  --causal-attention       block-causal self-attention (the reference's --causal_attention: a frame sees\n"
         "                           only its own and earlier causal blocks; for models trained with it)\n"
         "  --no-causal-attention    off again (e.g. over --from-video)\n"
         "  --base-frames N  --overlap N  --addnoise N   long video: windows of N frames sharing --overlap frames\n"
         "  --image FILE             start image          --end-image FILE   end image\n"
         "  --extend VIDEO           continue this video (needs --overlap)\n"
         "  --lora FILE[:STRENGTH]   merge a LoRA (.safetensors; Wan-native, kohya/musubi or diffusers keys) into the\n"
         "                           DiT at STRENGTH (1; -10..10); repeat for several, whose deltas add. Given, they\n"
         "                           replace the LoRAs of --settings / --from-video; --no-lora removes those\n"
         "\n"
         "output:\n"
         "  --output FILE            .mp4 (H.264), .mkv (FFV1, lossless) or .safetensors (raw uint8 frames)\n"
         "                           default: <first words of the prompt>-<date>-<time>-<seed>.mp4 in the current\n"
         "                           folder, e.g. a-red-car-drives-20261206-213000-42.mp4\n"
         "  --crf N (18)  --preset P (medium)   H.264 quality and speed\n"
         "  --overwrite              replace an existing output file\n"
         "\n"
         "fast modes (opt-in; they change the video, docs/performance.md measures by how much):\n"
         "  --fp8                    float8 weights and GEMMs in the DiT (CUDA GPUs of compute capability 8.9+)\n"
         "  --cfg-skip-last-steps K  rows whose updated frames are all in their last K steps skip the\n"
         "                           unconditional call\n"
         "  --step-cache T           reuse the DiT blocks' output while the time embedding moved less than T\n"
         "  --int8-attention         self-attention with INT8 Q.K, P.V in bf16 (issue 26): a Hopper kernel on\n"
         "                           compute capability 9.0, the LibTorch reference on the CPU (no faster);\n"
         "                           refused on other GPUs\n"
         "  --exact                  all fast modes off (e.g. over --from-video)\n"
         "\n"
         "engine:\n"
         "  --device auto|cpu|cuda[:N]   --reference-path (the reference's execution choices)\n"
         "  --gpus N                 run on N GPUs, one process each (under torchrun or srun: their ranks)\n"
         "  --parallel auto|ulysses|cfg  how the ranks share a job: split each call's tokens (Ulysses), or\n"
         "                           the conditional and unconditional calls on two halves (CFG-parallel,\n"
         "                           guided jobs, even ranks); auto picks CFG-parallel where it can\n"
         "  --vram-budget GIB        GPU memory the job may use; the plan (blocks resident or streamed, CFG, text\n"
         "                           encoder, VAE tiling) is printed before work (on the CPU: printed, not enforced)\n"
         "  --no-vram-budget         what the card has free (e.g. over --from-video)\n"
         "  --vae-tile T[:O]         decode in spatial tiles of T latent pixels overlapping by O (less memory)\n"
         "  --no-prompt-cache\n"
         "\n"
         "reporting:\n"
         "  --json                   one JSON object per event on stdout      --quiet   no progress on stderr\n"
         "\n"
         "Ctrl-C stops after the current row and keeps the finished frames. Exit codes: 0 done, 1 failed while\n"
         "running, 2 bad command line or input, 130 cancelled (the finished part is written).\n";
}

GenerateOptions parse_generate_options(const std::vector<std::string>& args) {
  GenerateOptions o;
  auto& set = o.overrides;
  bool lora_given = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& name = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(name + " needs a value");
      return args[++i];
    };
    auto integer = [&](long long min, long long max) { return to_integer(name, value(), min, max); };
    auto number = [&](double min, double max) { return to_number(name, value(), min, max); };

    if (name == "--model") o.model = value();
    else if (name == "--settings") o.settings_file = value();
    else if (name == "--from-video") o.from_video = value();
    else if (name == "--prompt") set.push_back([v = value()](GenerationSettings& s) { s.prompt = v; });
    else if (name == "--prompt-file") {
      const auto path = value();
      // Only a regular file of prompt size: /dev/zero or a FIFO would never end, a huge file is no prompt.
      struct stat info {};
      if (::stat(path.c_str(), &info) != 0) throw UsageError("--prompt-file: cannot read " + path);
      if (!S_ISREG(info.st_mode)) throw UsageError("--prompt-file: " + path + " is not a regular file");
      if (info.st_size > limits::kMaxPromptBytes)
        throw UsageError("--prompt-file: " + path + " has " + std::to_string(info.st_size) + " bytes; a prompt has at most " +
                         std::to_string(limits::kMaxPromptBytes));
      std::FILE* f = std::fopen(path.c_str(), "rb");
      if (!f) throw UsageError("--prompt-file: cannot read " + path);
      std::string text;
      char buffer[4096];
      for (std::size_t n; text.size() <= static_cast<std::size_t>(limits::kMaxPromptBytes) &&
                          (n = std::fread(buffer, 1, sizeof buffer, f)) > 0;)
        text.append(buffer, n);
      std::fclose(f);
      set.push_back([text](GenerationSettings& s) { s.prompt = text; });
    } else if (name == "--negative-prompt") set.push_back([v = value()](GenerationSettings& s) { s.negative_prompt = v; });
    else if (name == "--resolution") {
      std::int64_t h = 0, w = 0;
      const auto text = value();
      if (!parse_resolution(text, h, w))
        throw UsageError("--resolution must be 540p, 720p, 540p-portrait, 720p-portrait or WxH, got \"" + text + "\"");
      set.push_back([h, w](GenerationSettings& s) { s.height = h; s.width = w; });
    } else if (name == "--height") set.push_back([v = integer(16, limits::kMaxSide)](GenerationSettings& s) { s.height = v; });
    else if (name == "--width") set.push_back([v = integer(16, limits::kMaxSide)](GenerationSettings& s) { s.width = v; });
    else if (name == "--frames") {
      const auto v = integer(1, limits::kMaxFrames);
      o.seconds.reset();
      set.push_back([v](GenerationSettings& s) { s.num_frames = v; });
    } else if (name == "--seconds") o.seconds = number(0.05, 3600);
    else if (name == "--fps") set.push_back([v = integer(1, limits::kMaxFps)](GenerationSettings& s) { s.fps = static_cast<int>(v); });
    else if (name == "--steps")  // N levels from the formula: a restored or preset timestep list goes
      set.push_back([v = integer(1, limits::kMaxSteps)](GenerationSettings& s) { s.steps = static_cast<int>(v); s.timestep_list.clear(); });
    else if (name == "--sampler") {
      Sampler sampler{};
      const auto text = value();
      if (!parse_sampler(text, sampler)) throw UsageError("--sampler must be unipc or euler, got \"" + text + "\"");
      set.push_back([sampler](GenerationSettings& s) { s.sampler = sampler; });
    } else if (name == "--timesteps") {
      // Only the Euler sampler takes a list, so the list brings it along.
      set.push_back([list = parse_timesteps(name, value())](GenerationSettings& s) {
        s.timestep_list = list;
        s.steps = static_cast<int>(list.size());
        s.sampler = Sampler::Euler;
      });
    } else if (name == "--few-step") set.push_back([](GenerationSettings& s) { apply_few_step_preset(s); });
    else if (name == "--shift") set.push_back([v = number(1e-3, limits::kMaxShift)](GenerationSettings& s) { s.shift = v; });
    else if (name == "--guidance") set.push_back([v = number(0, limits::kMaxGuidance)](GenerationSettings& s) { s.guidance_scale = v; });
    else if (name == "--seed") {
      const auto text = value();
      o.seed_given = true;
      if (text == "random") {
        o.random_seed = true;
      } else {
        const auto v = static_cast<std::uint64_t>(to_integer(name, text, 0, static_cast<long long>(limits::kMaxSeed)));
        o.random_seed = false;
        set.push_back([v](GenerationSettings& s) { s.seed = v; });
      }
    } else if (name == "--mode") {
      const auto mode = value();
      if (mode == "sync") set.push_back([](GenerationSettings& s) { s.ar_step = 0; s.causal_block_size = 1; });
      else if (mode == "async") set.push_back([](GenerationSettings& s) { s.ar_step = 5; s.causal_block_size = 5; });
      else throw UsageError("--mode must be sync or async, got \"" + mode + "\"");
    } else if (name == "--ar-step") set.push_back([v = integer(0, limits::kMaxArStep)](GenerationSettings& s) { s.ar_step = static_cast<int>(v); });
    else if (name == "--causal-block-size")
      set.push_back([v = integer(1, limits::kMaxWindowLatents)](GenerationSettings& s) { s.causal_block_size = static_cast<int>(v); });
    else if (name == "--causal-attention") set.push_back([](GenerationSettings& s) { s.causal_attention = true; });
    else if (name == "--no-causal-attention") set.push_back([](GenerationSettings& s) { s.causal_attention = false; });
    else if (name == "--base-frames") set.push_back([v = integer(1, limits::kMaxFrames)](GenerationSettings& s) { s.base_num_frames = v; });
    else if (name == "--overlap") set.push_back([v = integer(1, limits::kMaxFrames)](GenerationSettings& s) { s.overlap_history = v; });
    else if (name == "--addnoise") set.push_back([v = integer(0, 999)](GenerationSettings& s) { s.addnoise_condition = static_cast<int>(v); });
    else if (name == "--fp8") set.push_back([](GenerationSettings& s) { s.fp8 = true; });
    else if (name == "--int8-attention") set.push_back([](GenerationSettings& s) { s.int8_attention = true; });
    else if (name == "--cfg-skip-last-steps")
      set.push_back([v = integer(0, limits::kMaxSteps)](GenerationSettings& s) { s.cfg_skip_last_steps = static_cast<int>(v); });
    else if (name == "--step-cache") set.push_back([v = number(0, limits::kMaxStepCacheThreshold)](GenerationSettings& s) { s.step_cache_threshold = v; });
    else if (name == "--vram-budget")
      set.push_back([v = number(1e-3, limits::kMaxVramBudgetGib)](GenerationSettings& s) { s.vram_budget_gib = v; });
    else if (name == "--no-vram-budget") set.push_back([](GenerationSettings& s) { s.vram_budget_gib.reset(); });
    else if (name == "--exact")
      set.push_back([](GenerationSettings& s) {
        s.fp8 = false;
        s.cfg_skip_last_steps = 0;
        s.step_cache_threshold = 0;
        s.int8_attention = false;
      });
    else if (name == "--lora") {
      // The first --lora replaces the restored list; the others add to it.
      if (!lora_given) set.push_back([](GenerationSettings& s) { s.loras.clear(); });
      lora_given = true;
      set.push_back([l = parse_lora(value())](GenerationSettings& s) { s.loras.push_back(l); });
    } else if (name == "--no-lora") {
      lora_given = true;
      set.push_back([](GenerationSettings& s) { s.loras.clear(); });
    } else if (name == "--image") o.start_image = value();
    else if (name == "--end-image") o.end_image = value();
    else if (name == "--extend") o.extend_video = value();
    else if (name == "--output" || name == "-o") o.output = value();
    else if (name == "--crf") o.crf = static_cast<int>(integer(0, 51));
    else if (name == "--preset") o.preset = value();
    else if (name == "--overwrite") o.overwrite = true;
    else if (name == "--device") o.device = value();
    else if (name == "--reference-path") o.reference_path = true;
    else if (name == "--vae-tile") {
      const auto text = value();
      const auto colon = text.find(':');
      const auto tile = to_integer(name, text.substr(0, colon), 4, 4096);
      const auto overlap = colon == std::string::npos ? 8 : to_integer(name, text.substr(colon + 1), 0, tile - 1);
      o.vae_tile = std::make_pair(tile, overlap);
    } else if (name == "--no-prompt-cache") o.prompt_cache = false;
    else if (name == "--gpus") o.gpus = static_cast<int>(integer(1, 64));
    else if (name == "--parallel") {
      o.parallel = value();
      if (o.parallel != "auto" && o.parallel != "ulysses" && o.parallel != "cfg")
        throw UsageError("--parallel takes auto, ulysses or cfg, not \"" + o.parallel + "\"");
    }
    else if (name == "--json") o.json = true;
    else if (name == "--quiet" || name == "-q") o.quiet = true;
    else throw UsageError("unknown option \"" + name + "\" (skyreels-cli generate --help lists them)");
  }
  // The flags say which inputs exist; the settings must agree (a restored settings file may say so too).
  if (!o.start_image.empty()) set.push_back([](GenerationSettings& s) { s.has_start_image = true; });
  if (!o.end_image.empty()) set.push_back([](GenerationSettings& s) { s.has_end_image = true; });
  if (!o.extend_video.empty()) set.push_back([](GenerationSettings& s) { s.extends_video = true; });
  return o;
}

GenerationSettings apply_options(const GenerateOptions& options, GenerationSettings s) {
  // Inputs are given per run: a restored settings file does not bring its images along.
  s.has_start_image = s.has_end_image = s.extends_video = false;
  for (const auto& override_setting : options.overrides) override_setting(s);
  if (options.seconds) s.num_frames = frames_for_seconds(*options.seconds, s.fps, s.causal_block_size);
  // Without --overlap a long video is one window of all frames.
  if (!s.overlap_history) s.base_num_frames = s.num_frames;
  if (draws_seed(options)) s.seed = draw_seed();
  return s;
}

bool draws_seed(const GenerateOptions& options) {
  const bool restored = !options.settings_file.empty() || !options.from_video.empty();
  return options.random_seed || (!options.seed_given && !restored);
}

}  // namespace skyreels::cli
