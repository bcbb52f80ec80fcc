#pragma once

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

// A settings file on top of `base`: the JSON object to_json(GenerationSettings) writes, or a whole
// metadata document as stored in a video (its "settings"). Only a regular file of a settings file's
// size is read. Throws Error naming the file: NotFound, CorruptFile, BadArgument.
GenerationSettings read_settings_file(const std::string& path, const GenerationSettings& base = {});

// A video's frames for playback, each scaled down (aspect kept, even sizes) to fit
// max_width x max_height when larger; 0 x 0 keeps the video's size.
Frames read_video_frames(const std::string& path, int max_width = 0, int max_height = 0);

}  // namespace skyreels
