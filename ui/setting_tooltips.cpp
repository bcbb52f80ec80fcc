#include "setting_tooltips.h"

#include <QFormLayout>
#include <QHash>
#include <QLabel>
#include <QLayoutItem>
#include <QLineEdit>
#include <QWidget>

#include "path_field.h"

namespace skyreels::ui {
namespace {

// Each text starts with what the user sees or changes, then what it costs or needs. Settings JSON
// names (ar_step, ...) are given where users meet them in the reference's documentation.
const QHash<QString, QString>& table() {
  static const QHash<QString, QString> tips = {
      {QStringLiteral("prompt"), QObject::tr("What the video shows, in a sentence or two: the subject, what it does, "
                                             "the place, the light and the camera")},
      {QStringLiteral("negativePrompt"), QObject::tr("What the video should not look like (blur, watermarks, extra "
                                                     "fingers). Used only when guidance is above 1")},
      {QStringLiteral("modelFolder"), QObject::tr("The folder of a SkyReels-V2-DF download (official or diffusers "
                                                  "layout); empty: the small demo model built into the app")},
      {QStringLiteral("useDemoModel"), QObject::tr("Use the demo model built into the app: small, runs on a CPU in "
                                                   "seconds, for trying the app out")},
      {QStringLiteral("recommendedSettings"), QObject::tr("Take the model folder's recommended settings; the prompt "
                                                          "stays")},
      {QStringLiteral("device"), QObject::tr("Where the model runs: a CUDA GPU (fast) or the CPU (slow, for small "
                                             "models)")},
      {QStringLiteral("resolution"), QObject::tr("The video's width and height. 540p suits the 540P models, 720p "
                                                 "the 720P model; Custom lets you type them")},
      {QStringLiteral("width"), QObject::tr("Width in pixels, a multiple of 16 (Custom resolution only)")},
      {QStringLiteral("height"), QObject::tr("Height in pixels, a multiple of 16 (Custom resolution only)")},
      {QStringLiteral("length"), QObject::tr("How long the video is, in frames or seconds; rounded to a count the "
                                             "model can make (1 + 4k frames, whole causal blocks)")},
      {QStringLiteral("lengthUnit"), QObject::tr("Give the length in frames or in seconds")},
      {QStringLiteral("fps"), QObject::tr("Frames per second of the video file. The 1.3B model was trained at 16 "
                                          "and 24")},
      {QStringLiteral("qualityPreset"), QObject::tr("How long to spend on each frame: Quality takes the model's "
                                                    "recommended steps; Balanced half of them (about twice as fast); "
                                                    "Draft a quarter (a quick look); Few-step is for step-distilled "
                                                    "LoRAs and models (4 Euler steps)")},
      {QStringLiteral("sampler"), QObject::tr("The solver that removes noise step by step: UniPC (the reference's) "
                                              "for the released models, Euler for step-distilled ones")},
      {QStringLiteral("timesteps"), QObject::tr("Euler only: noise levels from 1000 down, e.g. 1000, 750, 500, 250 "
                                                "(shifted by Shift); they set the steps. Empty: the steps' formula")},
      {QStringLiteral("fewStepPreset"), QObject::tr("For step-distillation LoRAs (lightx2v, CausVid): Euler on 1000, "
                                                    "750, 500, 250, shift 5, guidance 1 (one model call per row, no "
                                                    "negative prompt)")},
      {QStringLiteral("steps"), QObject::tr("Denoising steps per frame: more is slower and usually cleaner; 30 is "
                                            "the reference's, step-distilled models need 4")},
      {QStringLiteral("guidance"), QObject::tr("How strongly the video follows the prompt against the negative "
                                               "prompt (classifier-free guidance); 1 turns it off and halves the "
                                               "work; 5 to 7 is usual")},
      {QStringLiteral("shift"), QObject::tr("Where the steps are spent along the noise levels: higher spends more "
                                            "on the noisy start (overall layout); 8 is the reference's")},
      {QStringLiteral("seed"), QObject::tr("The number the starting noise is drawn from: the same seed and settings "
                                           "give the same video")},
      {QStringLiteral("randomSeed"), QObject::tr("Draw a new seed for every run; the one used is shown, so a video "
                                                 "you like can be made again")},
      {QStringLiteral("mode"), QObject::tr("Synchronous: all frames denoise together. Asynchronous: each causal "
                                           "block starts ar_step rows after the previous one (more rows in total: "
                                           "steps + (blocks − 1) × ar_step), which keeps long videos consistent")},
      {QStringLiteral("arStep"), QObject::tr("ar_step: rows between the starts of two causal blocks; 0 = all frames "
                                             "denoise together")},
      {QStringLiteral("causalBlockSize"), QObject::tr("causal_block_size: latent frames (4 video frames each) that "
                                                      "denoise as one block; blocks appear in the player one by one")},
      {QStringLiteral("causalAttention"), QObject::tr("Block-causal self-attention (the reference's "
                                                      "--causal_attention): a frame sees only its own and earlier "
                                                      "causal blocks. Only for models trained with it; the released "
                                                      "SkyReels-V2 models were not")},
      {QStringLiteral("loras"), QObject::tr("LoRAs: small files that change the model's style or make it faster; "
                                            "each merged at its strength before the run")},
      {QStringLiteral("longVideo"), QObject::tr("Make the video in windows of a few seconds that share their "
                                                "overlap frames, for videos longer than one window can hold")},
      {QStringLiteral("baseFrames"), QObject::tr("base_num_frames: frames the model makes at once in each window; "
                                                 "more needs more memory")},
      {QStringLiteral("overlapFrames"), QObject::tr("overlap_history: frames each window takes over from the one "
                                                    "before, so the joins are smooth")},
      {QStringLiteral("addNoise"), QObject::tr("addnoise_condition: noise (× 0.001) added to the frames a window "
                                               "continues from or the start image; 20 is typical, 0 = none")},
      {QStringLiteral("fp8"), QObject::tr("Float8 weights and matrix products in the model: faster, half the weight "
                                          "memory; needs a CUDA GPU of compute capability 8.9 or newer. Changes the "
                                          "video slightly")},
      {QStringLiteral("int8Attention"), QObject::tr("Self-attention with its query-key products in 8 bits "
                                                    "(INT8). Changes the video slightly; the fast GPU kernel is "
                                                    "still to come")},
      {QStringLiteral("cfgSkipLastSteps"), QObject::tr("Skip the negative-prompt call on rows whose frames are all in "
                                                       "their last this-many steps (0: off). Faster; changes the "
                                                       "video")},
      {QStringLiteral("stepCache"), QObject::tr("Reuse the model's last output while the noise level moved less than "
                                                "this (0: off). Faster; changes the video")},
      {QStringLiteral("vramBudget"), QObject::tr("GPU memory the job may use, in GiB; the app plans where the models "
                                                 "live to stay under it. None: what the card has free")},
      {QStringLiteral("startImage"), QObject::tr("A picture the video starts from (image to video); needs causal "
                                                 "block size 1")},
      {QStringLiteral("endImage"), QObject::tr("A picture the video ends on; needs causal block size 1")},
      {QStringLiteral("extendVideo"), QObject::tr("A video to continue: the new frames follow its last ones")},
      {QStringLiteral("outputFolder"), QObject::tr("Where the videos are written; empty: Videos/SkyReels in your "
                                                   "home folder")},
      {QStringLiteral("codec"), QObject::tr("H.264 in MP4 plays everywhere and is small; FFV1 in MKV is lossless, "
                                            "for editing")},
      {QStringLiteral("crf"), QObject::tr("H.264 quality: lower is better and larger; 18 looks like the original")},
  };
  return tips;
}

// The tooltip a form row's field has, or the first one inside it (a row of several widgets).
QString tooltipOf(QWidget* field) {
  if (!field->toolTip().isEmpty()) return field->toolTip();
  for (auto* child : field->findChildren<QWidget*>())
    if (!child->toolTip().isEmpty() && table().contains(child->objectName())) return child->toolTip();
  return {};
}

}  // namespace

QString settingTooltip(const QString& fieldName) { return table().value(fieldName); }

void applySettingTooltips(QWidget* form) {
  for (auto* widget : form->findChildren<QWidget*>()) {
    const QString tip = settingTooltip(widget->objectName());
    if (tip.isEmpty()) continue;
    widget->setToolTip(tip);
    if (auto* path = qobject_cast<PathField*>(widget)) path->lineEdit()->setToolTip(tip);
  }
  for (auto* layout : form->findChildren<QFormLayout*>()) {
    for (int row = 0; row < layout->rowCount(); ++row) {
      auto* label = layout->itemAt(row, QFormLayout::LabelRole);
      auto* field = layout->itemAt(row, QFormLayout::FieldRole);
      if (label && label->widget() && field && field->widget()) label->widget()->setToolTip(tooltipOf(field->widget()));
    }
  }
}

}  // namespace skyreels::ui
