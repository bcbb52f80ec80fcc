#pragma once

#include <cstdio>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "skyreels/events.h"

namespace skyreels::cli {

// One event as a JSON object {"event": "row_done", ...}: what `generate --json` prints, one per line.
// Tensors are summarised (frame ranges, shapes), never dumped.
nlohmann::json event_to_json(const GenerationEvent& event);

// Human progress on a stream (stderr): a line per phase, window and finished generation, and per
// row "window 1/2  row 12/30  41%  elapsed 12.0 s  ETA 17.4 s  GPU 9.8 GiB". On a terminal the row
// line is redrawn in place.
class ProgressPrinter {
public:
  explicit ProgressPrinter(std::FILE* out);
  void operator()(const GenerationEvent& event);

private:
  void line(const std::string& text);
  std::FILE* out_;
  bool terminal_;
  bool open_row_line_ = false;
  int windows_ = 1;
};

}  // namespace skyreels::cli
