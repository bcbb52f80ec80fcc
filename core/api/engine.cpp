#include "skyreels/engine.h"

#include <filesystem>

#include <ATen/Context.h>

#include "api/engine_impl.h"
#include "api/model_identity.h"
#include "model/wan_dit.h"
#include "parallel/launcher.h"
#include "pipeline/demo_model.h"
#include "skyreels/error.h"
#include "telemetry/device_memory.h"

namespace skyreels {
namespace {

namespace fs = std::filesystem;

bool cuda_available() { return telemetry::cuda_built() && at::hasCUDA(); }

c10::Device choose_device(const std::string& text) {
  if (text == "auto" || text.empty()) return cuda_available() ? c10::Device(c10::kCUDA, 0) : c10::Device(c10::kCPU);
  std::optional<c10::Device> device;
  try {
    device.emplace(text);
  } catch (const c10::Error&) {
  }
  if (!device || (!device->is_cpu() && !device->is_cuda()))
    throw Error(ErrorCode::BadArgument, "device must be auto, cpu or cuda[:N], got \"" + text + "\"");
  if (device->is_cuda() && !cuda_available())
    throw Error(ErrorCode::Unsupported, "device " + text + ": no CUDA device (this build or this machine has none)");
  return *device;
}

// The folder a job uses: the one given, or the demo model.
std::string resolve_folder(const std::string& model_folder) {
  if (!model_folder.empty()) return model_folder;
  const auto demo = pipeline::find_demo_model();
  if (demo.empty())
    throw Error(ErrorCode::NotFound, "no model folder given and the demo model is not installed "
                                     "(set SKYREELS_DEMO_MODEL or give a SkyReels-V2-DF folder)");
  return demo.string();
}

}  // namespace

const std::string& Engine::Impl::hash() {
  if (!weights_hash)
    weights_hash = identity.demo ? std::string("demo")
                                 : api::weights_hash(api::weight_files(engine->files().dit), api::default_hash_cache());
  return *weights_hash;
}

Engine::Engine(const std::string& model_folder, EngineOptions options) : impl_(std::make_unique<Impl>()) {
  auto& impl = *impl_;
  impl.options = std::move(options);
  pipeline::EngineOptions internal;
  internal.device = choose_device(impl.options.device);
  internal.use_prompt_cache = impl.options.use_prompt_cache;
  internal.prompt_cache_dir = impl.options.prompt_cache_dir;
  if (impl.options.reference_path) internal.pipeline = pipeline::PipelineOptions::reference_path();
  if (impl.options.vae_tile > 0) {
    internal.pipeline.vae_tiling.tile = impl.options.vae_tile;
    internal.pipeline.vae_tiling.overlap = impl.options.vae_tile_overlap;
  }
  const auto folder = resolve_folder(model_folder);
  if (parallel::launched_rank()) {  // one of several processes: join them
    const auto env = parallel::ParallelEnv::from_environment();
    internal.device = env.device_for(internal.device);
    impl.group = parallel::connect(env, internal.device);
    internal.parallel = impl.group.get();
    impl.cfg_groups = parallel::join_cfg_groups(*impl.group);
    internal.cfg_groups = {impl.cfg_groups.branch.get(), impl.cfg_groups.pair, impl.cfg_groups.branch_index};
  }
  internal.parallel_mode = pipeline::parallel_mode_from_string(impl.options.parallel);
  impl.engine = std::make_unique<pipeline::Engine>(folder, std::move(internal));

  impl.identity.folder = folder;
  impl.identity.layout = pipeline::to_string(impl.engine->files().layout);
  impl.identity.demo = model_folder.empty();
  impl.identity.name = impl.identity.demo ? "demo" : fs::path(folder).lexically_normal().filename().string();
  if (impl.identity.name.empty()) impl.identity.name = fs::path(folder).lexically_normal().parent_path().filename().string();
}

Engine::~Engine() = default;
Engine::Engine(Engine&&) noexcept = default;
Engine& Engine::operator=(Engine&&) noexcept = default;

const ModelIdentity& Engine::model() const noexcept { return impl_->identity; }
const EngineOptions& Engine::options() const noexcept { return impl_->options; }
std::string Engine::device() const { return impl_->engine->options().device.str(); }
bool Engine::leader() const noexcept { return !impl_->group || impl_->group->rank() == 0; }

GenerationSettings Engine::recommended_settings() const { return impl_->engine->default_settings(); }

std::string Engine::memory_plan(const GenerationSettings& settings) const {
  const auto plan = impl_->engine->memory_plan(settings);
  return plan ? plan->description : std::string();
}

void Engine::load(const EventSink& events, bool fp8) { impl_->engine->load(events, fp8); }
void Engine::unload() { impl_->engine->unload(); }

std::int64_t Engine::generate(const GenerationRequest& request, const EventSink& events, const std::atomic<bool>* cancel) {
  require_valid(request.settings);
  const auto internal = api::load_inputs(request);
  return impl_->engine->generate_validated(internal, events, cancel).video.size(0);
}

GenerationSettings recommended_settings(const std::string& model_folder) {
  return pipeline::read_recommended_settings(pipeline::locate_model_files(resolve_folder(model_folder)));
}

std::string demo_model_folder() { return pipeline::find_demo_model().string(); }

void write_demo_model(const std::string& dir, std::uint64_t seed) { pipeline::write_demo_model(dir, seed); }

std::vector<std::string> available_devices() {
  std::vector<std::string> devices;
  if (cuda_available()) devices.emplace_back("cuda");
  devices.emplace_back("cpu");
  return devices;
}

MemoryStats memory_stats(const std::string& device) { return telemetry::memory_stats(choose_device(device)); }

}  // namespace skyreels
