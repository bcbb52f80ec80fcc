#pragma once

#include <QMetaType>
#include <QString>

#include <vector>

#include "skyreels/settings.h"

namespace skyreels::ui {

// The file a job writes: H.264 in MP4 to share, or lossless FFV1 in Matroska to edit.
enum class OutputCodec { H264Mp4 = 1, Ffv1Mkv };

// A LoRA of the form's list. A disabled one stays in the list (and the saved form) but does not reach
// the engine.
struct StudioLora {
  LoraSetting lora;
  bool enabled = true;
};

// Everything one generation needs, as the form shows it: the engine's settings plus what only the app
// knows (model folder, device, input files, where and how to write). Plain data: it travels through
// queued signals and the job queue, and is stored in QSettings.
struct StudioJob {
  GenerationSettings settings;
  QString modelFolder;     // empty: the embedded demo model
  QString device = QStringLiteral("cpu");  // "cpu" or "cuda"
  bool randomSeed = false; // pick a fresh seed when the job starts (settings.seed is then the seed used)
  QString startImage, endImage, extendVideo;  // empty: not used
  QString outputFolder;    // empty: the user's Videos folder
  OutputCodec codec = OutputCodec::H264Mp4;
  int crf = 18;            // H.264 quality (FFV1 is lossless)
  // The form's LoRA list, disabled ones included; settings.loras holds the enabled ones. Empty with
  // settings.loras set (a job from elsewhere): those, all enabled.
  std::vector<StudioLora> loraList;

  // One line for the queue: the prompt's start, size, length and seed.
  QString summary() const;
  // Where the video goes: outputFolder, else Videos/SkyReels in the user's Videos folder (also what
  // the gallery lists).
  QString effectiveOutputFolder() const;
  // The settings with the input flags set from the file fields.
  GenerationSettings effectiveSettings() const;
};

// ".mp4" or ".mkv".
QString fileExtension(OutputCodec codec);

}  // namespace skyreels::ui

Q_DECLARE_METATYPE(skyreels::ui::StudioJob)
