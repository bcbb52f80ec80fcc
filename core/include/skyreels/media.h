#pragma once

#include <cstdint>
#include <string>

#include "skyreels/events.h"
#include "skyreels/settings.h"

// Files around a generation: videos this program made, and settings files. Videos need a build with
// FFmpeg (video_files_supported()); without it these throw Error(Unsupported).

namespace skyreels {

// Whether this build reads and writes .mp4 / .mkv.
bool video_files_supported();

// The settings stored in a video this program made, on top of `base` (settings_from_json). Throws
// Error: NotFound (no file, or a video without SkyReels metadata), CorruptFile (not a readable video,
// or damaged metadata), BadArgument (a value of the wrong type or range).
GenerationSettings read_settings_from_video(const std::string& path, const GenerationSettings& base = {});

// What a gallery shows of a video this program made, from the file alone: its stored settings, the
// model that made it, its length and when it was made, and its first frame as a thumbnail.
struct VideoSummary {
  GenerationSettings settings;      // as stored (the seed used)
  std::string model_name;           // e.g. "demo", a checkpoint folder's name; empty when not recorded
  std::int64_t frames = 0;          // in the file
  std::int64_t frames_planned = 0;  // what the job was to write; 0 when not recorded
  double fps = 0;
  std::string created;              // UTC, ISO 8601 ("2026-12-06T21:30:00Z"); empty when not recorded
  Frames thumbnail;                 // one frame, fitted to the size asked for; empty when none decodes
  // Fewer frames than planned: the job was cancelled or failed after writing some.
  bool partial() const noexcept { return frames_planned > 0 && frames < frames_planned; }
};

// The summary of a produced video, its thumbnail scaled down (aspect kept, even sizes) to fit
// thumb_width x thumb_height. Throws Error as read_settings_from_video.
VideoSummary read_video_summary(const std::string& path, int thumb_width = 192, int thumb_height = 108);

// A settings file on top of `base`: the JSON object to_json(GenerationSettings) writes, or a whole
// metadata document as stored in a video (its "settings"). Only a regular file of a settings file's
// size is read. Throws Error naming the file: NotFound, CorruptFile, BadArgument.
GenerationSettings read_settings_file(const std::string& path, const GenerationSettings& base = {});

// A video's frames for playback, each scaled down (aspect kept, even sizes) to fit
// max_width x max_height when larger; 0 x 0 keeps the video's size.
Frames read_video_frames(const std::string& path, int max_width = 0, int max_height = 0);

}  // namespace skyreels
