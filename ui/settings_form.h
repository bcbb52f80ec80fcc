#pragma once

#include <QMap>
#include <QWidget>

#include "studio_job.h"

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QFormLayout;
class QGroupBox;
class QLabel;
class QLineEdit;
class QPlainTextEdit;
class QPushButton;
class QSpinBox;

namespace skyreels::ui {

class LoraList;
class PathField;
class WheelGuard;

// The inputs of a job, grouped as the product's users know them: prompt and negative prompt; model
// and device; size and length (seconds or frames, snapped to counts the engine accepts); sampling
// (sampler, steps or a timestep list, guidance, shift, seed with a random toggle that shows the seed
// used, and the few-step preset); LoRAs (add, remove, strength, on/off); diffusion forcing (sync/async,
// ar_step, causal block size, causal attention); long video (window, overlap, added noise); start/end
// image and video to extend; output folder, codec and quality. What the engine would reject shows
// under the field it is about (with a button where one change fixes it), and in a line under the
// form, as the values change. The wheel changes no field the user has not focused.
class SettingsForm : public QWidget {
  Q_OBJECT
public:
  explicit SettingsForm(QWidget* parent = nullptr);

  // The form as a job; num_frames is already snapped.
  StudioJob job() const;
  // Every field, as `job` says.
  void setJob(const StudioJob& job);
  // Only the engine settings (from a model's recommendations or a video's metadata); the model,
  // files and output fields stay.
  void setSettings(const GenerationSettings& settings);
  // Shows the seed a job used (a random seed is written back to the field).
  void showSeedUsed(quint64 seed);
  // The folder's recommended settings, keeping the prompt the user typed. False with `error` set
  // when the folder cannot be used.
  bool applyRecommendedSettings(QString* error = nullptr);

  // Why the engine would reject the settings now, or an empty string.
  QString problem() const;
  // The message shown under the field with this settings key ("num_frames", "causal_block_size", ...;
  // check_settings' names), or null when it has none. Its fix button is named "fix_" + key.
  QWidget* fieldProblem(const QString& key) const { return fieldProblems_.value(key); }
  // The snapped frame count the length fields give.
  qint64 frameCount() const;

  // Direct access for the app's own helpers and the UI tests (the widgets also have object names).
  QPlainTextEdit* promptEdit() const { return prompt_; }
  PathField* modelFolderField() const { return modelFolder_; }
  QComboBox* lengthUnitBox() const { return lengthUnit_; }
  QDoubleSpinBox* lengthSpin() const { return length_; }
  QSpinBox* stepsSpin() const { return steps_; }
  QLineEdit* seedEdit() const { return seed_; }
  QCheckBox* randomSeedBox() const { return randomSeed_; }
  QComboBox* samplerBox() const { return sampler_; }
  QLineEdit* timestepsEdit() const { return timesteps_; }
  QPushButton* fewStepButton() const { return fewStep_; }
  QDoubleSpinBox* guidanceSpin() const { return guidance_; }
  QDoubleSpinBox* shiftSpin() const { return shift_; }
  QCheckBox* causalAttentionBox() const { return causalAttention_; }
  LoraList* loraList() const { return loras_; }

Q_SIGNALS:
  void changed();
  // The problem line changed: settings the engine rejects (problem()) or an unusable model folder.
  void problemChanged(const QString& problem);

private:
  void buildLayout();
  void connectSignals();
  void onResolutionPreset();
  void onLengthUnitChanged();
  void snapLengthField();
  void refreshDerived();  // length note, enabled states, problem line and field problems
  void addFieldProblem(QFormLayout* form, const char* key);  // a hidden row for `key`'s message
  void showFieldProblems(const std::vector<SettingsProblem>& problems);
  void applyFix(SettingsFix fix);
  void setResolution(qint64 width, qint64 height);
  void applyFewStepPreset();
  std::vector<int> timestepList() const;  // the timesteps field's numbers; empty: steps from the formula

  QPlainTextEdit* prompt_;
  QPlainTextEdit* negativePrompt_;
  PathField* modelFolder_;
  QPushButton* useDemo_;
  QPushButton* recommended_;
  QComboBox* device_;
  QComboBox* resolution_;
  QSpinBox* width_;
  QSpinBox* height_;
  QSpinBox* fps_;
  QDoubleSpinBox* length_;
  QComboBox* lengthUnit_;
  QLabel* lengthNote_;
  QComboBox* sampler_;
  QLineEdit* timesteps_;
  QPushButton* fewStep_;
  QSpinBox* steps_;
  QDoubleSpinBox* guidance_;
  QDoubleSpinBox* shift_;
  QLineEdit* seed_;
  QCheckBox* randomSeed_;
  QLabel* seedUsed_;
  QComboBox* mode_;
  QSpinBox* arStep_;
  QSpinBox* causalBlock_;
  QCheckBox* causalAttention_;
  LoraList* loras_;
  QGroupBox* longVideo_;
  QSpinBox* baseFrames_;
  QSpinBox* overlap_;
  QSpinBox* addNoise_;
  QCheckBox* fp8_;
  QSpinBox* cfgSkip_;
  QDoubleSpinBox* stepCache_;
  PathField* startImage_;
  PathField* endImage_;
  PathField* extendVideo_;
  PathField* outputFolder_;
  QComboBox* codec_;
  QSpinBox* crf_;
  QLabel* problem_;
  // Per settings key: a message (QLabel "problem_" + key) and a fix button ("fix_" + key).
  QMap<QString, QWidget*> fieldProblems_;
  WheelGuard* wheelGuard_;
  QString modelProblem_;  // why the model folder cannot be used, shown above the settings problem
  QString lastProblem_;
  bool loading_ = false;  // setJob() in progress: one refresh at the end
};

}  // namespace skyreels::ui
