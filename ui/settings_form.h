#pragma once

#include <optional>

#include <QMap>
#include <QSet>
#include <QVector>
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
// Two views: simple (prompt, model, resolution, length, quality/speed preset, seed) and advanced
// (every setting). In the simple view a hidden setting with a problem shows, with its message.
// Every field has a tooltip in plain words (setting_tooltips.cpp).
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
  // A model chosen elsewhere (the model manager): as choosing the folder in the model field does, the
  // field takes it and the model's recommended settings apply.
  void chooseModelFolder(const QString& folder);

  bool isAdvanced() const { return advanced_; }
  void setAdvanced(bool advanced);

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
  QComboBox* qualityPresetBox() const { return qualityPreset_; }
  LoraList* loraList() const { return loras_; }

Q_SIGNALS:
  void changed();
  // "Models…" beside the model field: the window opens its model manager.
  void modelManagerRequested();
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
  void applyQualityPreset();  // the preset box's choice
  void applyView();           // shows the rows and groups of the simple or advanced view
  const GenerationSettings& recommended() const;  // the model folder's, for the presets
  std::vector<int> timestepList() const;  // the timesteps field's numbers; empty: steps from the formula

  QPlainTextEdit* prompt_;
  QPlainTextEdit* negativePrompt_;
  PathField* modelFolder_;
  QPushButton* useDemo_;
  QPushButton* recommended_;
  QPushButton* models_;
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
  QCheckBox* int8Attention_;
  QSpinBox* cfgSkip_;
  QDoubleSpinBox* stepCache_;
  PathField* startImage_;
  PathField* endImage_;
  PathField* extendVideo_;
  PathField* outputFolder_;
  QComboBox* codec_;
  QSpinBox* crf_;
  QComboBox* qualityPreset_;
  QDoubleSpinBox* vramBudget_;
  QWidget* sizeRow_ = nullptr;  // width × height, shown in the simple view for a Custom resolution
  QLabel* problem_;
  // Per settings key: a message (QLabel "problem_" + key) and a fix button ("fix_" + key).
  QMap<QString, QWidget*> fieldProblems_;
  WheelGuard* wheelGuard_;
  QString modelProblem_;  // why the model folder cannot be used, shown above the settings problem
  QString lastProblem_;
  bool loading_ = false;  // setJob() in progress: one refresh at the end
  // The advanced view's rows (with the settings keys whose problems show them in the simple view)
  // and groups (keys gathered from their problem rows).
  struct AdvancedRow {
    QFormLayout* form;
    QWidget* field;
    QStringList keys;
  };
  struct AdvancedGroup {
    QWidget* box;
    QStringList keys;
  };
  QVector<AdvancedRow> advancedRows_;
  QVector<AdvancedGroup> advancedGroups_;
  QSet<QString> shownProblems_;  // keys whose message shows now
  bool advanced_ = false;
  mutable QString recommendedFolder_;
  mutable std::optional<GenerationSettings> recommendedCache_;
};

}  // namespace skyreels::ui
