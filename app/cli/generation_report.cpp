#include "generation_report.h"

#include <unistd.h>

#include <nlohmann/json.hpp>


namespace skyreels::cli {
namespace {

double gib(std::int64_t bytes) { return static_cast<double>(bytes) / (1024.0 * 1024.0 * 1024.0); }

nlohmann::json memory_json(const MemoryStats& m) {
  return {{"allocated_bytes", m.allocated_bytes},
          {"reserved_bytes", m.reserved_bytes},
          {"peak_allocated_bytes", m.peak_allocated_bytes},
          {"peak_reserved_bytes", m.peak_reserved_bytes}};
}

std::string format(const char* pattern, double a, double b = 0, double c = 0) {
  char buffer[128];
  std::snprintf(buffer, sizeof buffer, pattern, a, b, c);
  return buffer;
}

struct ToJson {
  nlohmann::json operator()(const PhaseStarted& e) const {
    return {{"event", "phase"}, {"phase", to_string(e.phase)}, {"detail", e.detail}};
  }
  nlohmann::json operator()(const LorasApplied& e) const {
    nlohmann::json loras = nlohmann::json::array();
    for (const auto& l : e.loras)
      loras.push_back({{"path", l.path}, {"name", l.name}, {"hash", l.hash}, {"strength", l.strength},
                       {"parameters", l.parameters}, {"unmatched_keys", l.unmatched_keys},
                       {"skipped_image_keys", l.skipped_image_keys}});
    return {{"event", "loras"}, {"loras", loras}, {"merged", e.merged}, {"merge_s", e.seconds}};
  }
  nlohmann::json operator()(const GenerationStarted& e) const {
    nlohmann::json windows = nlohmann::json::array();
    for (const auto& w : e.plan.windows)
      windows.push_back({{"latent_frames", w.latent_frames}, {"prefix_latents", w.prefix_latents}, {"rows", w.rows},
                         {"new_frames", w.new_pixel_frames()}});
    return {{"event", "started"},          {"windows", windows},
            {"frames", e.plan.output_pixel_frames}, {"rows", e.plan.total_rows},
            {"model_calls", e.plan.model_calls}};
  }
  nlohmann::json operator()(const RowDone& e) const {
    return {{"event", "row_done"},       {"window", e.window},           {"row", e.row},
            {"rows", e.rows},            {"rows_done", e.rows_done},     {"rows_total", e.rows_total},
            {"elapsed_s", e.elapsed_seconds}, {"row_s", e.row_seconds},  {"model_s", e.model_seconds},
            {"unguided", e.unguided},    {"cached", e.cached},           {"memory", memory_json(e.memory)}};
  }
  nlohmann::json operator()(const BlockDecoded& e) const {
    return {{"event", "block_decoded"}, {"window", e.window}, {"first_frame", e.first_frame},
            {"frames", e.frames.count()}, {"decode_s", e.decode_seconds}};
  }
  nlohmann::json operator()(const WindowDone& e) const {
    return {{"event", "window_done"}, {"window", e.window}, {"elapsed_s", e.elapsed_seconds},
            {"frames_so_far", e.frames_so_far}};
  }
  nlohmann::json operator()(const GenerationFinished& e) const {
    return {{"event", "finished"}, {"frames", e.frames}, {"elapsed_s", e.elapsed_seconds},
            {"memory", memory_json(e.memory)}};
  }
  nlohmann::json operator()(const GenerationFailed& e) const {
    return {{"event", "failed"}, {"message", e.message}, {"frames_kept", e.frames_kept}};
  }
  nlohmann::json operator()(const MemoryPlanned& e) const {
    return {{"event", "memory_plan"}, {"plan", e.description}, {"budget_bytes", e.budget_bytes},
            {"resident_blocks", e.resident_blocks}, {"streamed_blocks", e.streamed_blocks}, {"enforced", e.enforced}};
  }
  nlohmann::json operator()(const GenerationCancelled& e) const {
    return {{"event", "cancelled"}, {"frames_kept", e.frames_kept}, {"elapsed_s", e.elapsed_seconds}};
  }
};

}  // namespace

nlohmann::json event_to_json(const GenerationEvent& event) { return std::visit(ToJson{}, event); }

ProgressPrinter::ProgressPrinter(std::FILE* out) : out_(out), terminal_(isatty(fileno(out)) != 0) {}

void ProgressPrinter::line(const std::string& text) {
  if (open_row_line_) std::fputc('\n', out_);
  open_row_line_ = false;
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
}

void ProgressPrinter::operator()(const GenerationEvent& event) {
  if (const auto* e = std::get_if<MemoryPlanned>(&event)) {
    line("memory plan: " + e->description + (e->enforced ? "" : " (on the CPU the plan is only shown, nothing is enforced)"));
  } else if (const auto* e = std::get_if<PhaseStarted>(&event)) {
    line(std::string(to_string(e->phase)) + (e->detail.empty() ? "" : ": " + e->detail));
  } else if (const auto* e = std::get_if<LorasApplied>(&event)) {
    if (e->loras.empty()) line("LoRAs: none (the model's own weights again)");
    for (const auto& l : e->loras)
      line("LoRA " + l.name + format(" x %g", l.strength) + " (" + l.path + ", hash " + l.hash + ")" +
           (e->merged ? ": " + std::to_string(l.parameters) + " parameters" +
                            (l.unmatched_keys > 0 ? ", " + std::to_string(l.unmatched_keys) + " keys unmatched" : "")
                      : ": merged already"));
    if (e->merged && !e->loras.empty()) line(format("LoRAs merged in %.2f s", e->seconds));
  } else if (const auto* e = std::get_if<GenerationStarted>(&event)) {
    windows_ = static_cast<int>(e->plan.windows.size());
    line("generating " + std::to_string(e->plan.output_pixel_frames) + " frames: " + std::to_string(windows_) +
         " window(s), " + std::to_string(e->plan.total_rows) + " rows, " + std::to_string(e->plan.model_calls) +
         " model calls");
  } else if (const auto* e = std::get_if<RowDone>(&event)) {
    const double eta = e->rows_done > 0 ? e->elapsed_seconds / e->rows_done * (e->rows_total - e->rows_done) : 0;
    std::string text = "window " + std::to_string(e->window + 1) + "/" + std::to_string(windows_) + "  row " +
                       std::to_string(e->row + 1) + "/" + std::to_string(e->rows) +
                       format("  %3.0f%%  elapsed %.1f s  ETA %.1f s", 100.0 * e->rows_done / std::max(1, e->rows_total),
                              e->elapsed_seconds, eta) +
                       format("  memory %.2f GiB", gib(e->memory.allocated_bytes)) +
                       (e->cached ? "  (step cache)" : "") + (e->unguided ? "  (no guidance)" : "");
    if (terminal_) {
      std::fprintf(out_, "\r%s\033[K", text.c_str());
      open_row_line_ = true;
      std::fflush(out_);
    } else {
      line(text);
    }
  } else if (const auto* e = std::get_if<WindowDone>(&event)) {
    line("window " + std::to_string(e->window + 1) + "/" + std::to_string(windows_) + " done: " +
         std::to_string(e->frames_so_far) + " frames" + format(" at %.1f s", e->elapsed_seconds));
  } else if (const auto* e = std::get_if<GenerationFinished>(&event)) {
    line("finished " + std::to_string(e->frames) + " frames" + format(" in %.1f s, peak memory %.2f GiB", e->elapsed_seconds,
                                                                     gib(e->memory.peak_allocated_bytes)));
  } else if (const auto* e = std::get_if<GenerationCancelled>(&event)) {
    line("cancelled: keeping " + std::to_string(e->frames_kept) + " finished frames");
  } else if (const auto* e = std::get_if<GenerationFailed>(&event)) {
    line("failed: " + e->message + " (after " + std::to_string(e->frames_kept) + " decoded frames)");
  }
}

}  // namespace skyreels::cli
