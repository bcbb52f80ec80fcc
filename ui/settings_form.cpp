#include "settings_form.h"

#include <algorithm>
#include <cmath>

#include <QCheckBox>
#include <QComboBox>
#include <QDoubleSpinBox>
#include <QFormLayout>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineEdit>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QRegularExpressionValidator>
#include <QSpinBox>
#include <QVBoxLayout>

#include "engine_queries.h"
#include "lora_list.h"
#include "path_field.h"
#include "quality_preset.h"
#include "setting_tooltips.h"
#include "skyreels/limits.h"
#include "wheel_guard.h"

namespace skyreels::ui {
namespace {

enum LengthUnit { kFrames = 0, kSeconds = 1 };
enum Mode { kSync = 0, kAsync = 1 };

// Output sizes users pick from; "Custom" enables the width and height fields.
struct ResolutionPreset {
  const char* label;
  const char* name;  // parse_resolution's name, or "WxH"
};
constexpr ResolutionPreset kPresets[] = {
    {"540p landscape (960 × 544)", "540p"},
    {"720p landscape (1280 × 720)", "720p"},
    {"540p portrait (544 × 960)", "540p-portrait"},
    {"720p portrait (720 × 1280)", "720p-portrait"},
    {"Demo size (320 × 192)", "320x192"},
};

QSize presetSize(const char* name) {
  std::int64_t h = 0, w = 0;
  parse_resolution(name, h, w);
  return {static_cast<int>(w), static_cast<int>(h)};
}

template <typename Spin>
Spin* spin(QWidget* parent, const char* name, double min, double max, double step) {
  auto* s = new Spin(parent);
  s->setObjectName(QString::fromLatin1(name));
  s->setRange(min, max);
  s->setSingleStep(step);
  return s;
}

QPlainTextEdit* textBox(QWidget* parent, const char* name, int lines) {
  auto* edit = new QPlainTextEdit(parent);
  edit->setObjectName(QString::fromLatin1(name));
  edit->setTabChangesFocus(true);
  edit->setFixedHeight(edit->fontMetrics().lineSpacing() * lines + 12);
  return edit;
}

// Widgets side by side; the one at `stretchIndex` takes the spare width (none: it stays on the right).
QWidget* row(QWidget* parent, std::initializer_list<QWidget*> widgets, int stretchIndex = 0) {
  auto* box = new QWidget(parent);
  auto* layout = new QHBoxLayout(box);
  layout->setContentsMargins(0, 0, 0, 0);
  int i = 0;
  for (auto* w : widgets) layout->addWidget(w, i++ == stretchIndex ? 1 : 0);
  if (stretchIndex < 0) layout->addStretch(1);
  return box;
}

}  // namespace

SettingsForm::SettingsForm(QWidget* parent)
    : QWidget(parent), prompt_(textBox(this, "prompt", 4)), negativePrompt_(textBox(this, "negativePrompt", 2)),
      modelFolder_(new PathField(PathField::Kind::Folder, tr("Choose a SkyReels-V2-DF model folder"), {}, this)),
      useDemo_(new QPushButton(tr("Demo"), this)), recommended_(new QPushButton(tr("Recommended"), this)),
      models_(new QPushButton(tr("Models…"), this)),
      device_(new QComboBox(this)), resolution_(new QComboBox(this)), width_(spin<QSpinBox>(this, "width", 16, 4096, 16)),
      height_(spin<QSpinBox>(this, "height", 16, 4096, 16)), fps_(spin<QSpinBox>(this, "fps", 1, 120, 1)),
      length_(spin<QDoubleSpinBox>(this, "length", 0, 100000, 4)), lengthUnit_(new QComboBox(this)),
      lengthNote_(new QLabel(this)), sampler_(new QComboBox(this)), timesteps_(new QLineEdit(this)),
      fewStep_(new QPushButton(tr("Few-step preset"), this)), steps_(spin<QSpinBox>(this, "steps", 1, 1000, 1)),
      guidance_(spin<QDoubleSpinBox>(this, "guidance", 0, 30, 0.5)), shift_(spin<QDoubleSpinBox>(this, "shift", 0.1, 100, 0.5)),
      seed_(new QLineEdit(this)), randomSeed_(new QCheckBox(tr("Random"), this)), seedUsed_(new QLabel(this)),
      mode_(new QComboBox(this)), arStep_(spin<QSpinBox>(this, "arStep", 0, 100, 1)),
      causalBlock_(spin<QSpinBox>(this, "causalBlockSize", 1, 64, 1)),
      causalAttention_(new QCheckBox(tr("Causal attention (models trained with it)"), this)),
      loras_(new LoraList(this)), longVideo_(new QGroupBox(tr("Long video"), this)),
      baseFrames_(spin<QSpinBox>(this, "baseFrames", 1, 100000, 4)), overlap_(spin<QSpinBox>(this, "overlapFrames", 1, 100000, 4)),
      addNoise_(spin<QSpinBox>(this, "addNoise", 0, 999, 5)), fp8_(new QCheckBox(tr("float8 weights (GPU)"), this)),
      int8Attention_(new QCheckBox(tr("8-bit attention"), this)),
      cfgSkip_(spin<QSpinBox>(this, "cfgSkipLastSteps", 0, 1000, 1)),
      stepCache_(spin<QDoubleSpinBox>(this, "stepCache", 0, 100, 0.05)),
      startImage_(new PathField(PathField::Kind::OpenFile, tr("Start image"), tr("Images (*.png *.jpg *.jpeg *.webp *.bmp)"), this)),
      endImage_(new PathField(PathField::Kind::OpenFile, tr("End image"), tr("Images (*.png *.jpg *.jpeg *.webp *.bmp)"), this)),
      extendVideo_(new PathField(PathField::Kind::OpenFile, tr("Video to extend"), tr("Videos (*.mp4 *.mkv *.mov *.webm *.avi)"), this)),
      outputFolder_(new PathField(PathField::Kind::Folder, tr("Output folder"), {}, this)), codec_(new QComboBox(this)),
      crf_(spin<QSpinBox>(this, "crf", 0, 51, 1)), qualityPreset_(new QComboBox(this)),
      vramBudget_(spin<QDoubleSpinBox>(this, "vramBudget", 0, limits::kMaxVramBudgetGib, 0.5)), problem_(new QLabel(this)),
      wheelGuard_(new WheelGuard(this)) {
  modelFolder_->setObjectName(QStringLiteral("modelFolder"));
  modelFolder_->setPlaceholderText(tr("empty: the embedded demo model"));
  useDemo_->setObjectName(QStringLiteral("useDemoModel"));
  recommended_->setObjectName(QStringLiteral("recommendedSettings"));
  models_->setObjectName(QStringLiteral("modelManagerButton"));
  models_->setToolTip(tr("Find the models on this computer, or download an official SkyReels-V2 model"));
  device_->setObjectName(QStringLiteral("device"));
  for (const auto& d : availableDevices())
    device_->addItem(d == QLatin1String("cuda") ? tr("CUDA (GPU)") : tr("CPU"), d);
  resolution_->setObjectName(QStringLiteral("resolution"));
  for (const auto& p : kPresets) resolution_->addItem(tr(p.label), presetSize(p.name));
  resolution_->addItem(tr("Custom"), QSize());
  lengthUnit_->setObjectName(QStringLiteral("lengthUnit"));
  lengthUnit_->addItems({tr("frames"), tr("seconds")});
  lengthNote_->setObjectName(QStringLiteral("lengthNote"));
  lengthNote_->setWordWrap(true);
  qualityPreset_->setObjectName(QStringLiteral("qualityPreset"));
  qualityPreset_->addItem(tr("Quality (recommended steps)"), static_cast<int>(QualityPreset::Quality));
  qualityPreset_->addItem(tr("Balanced (half the steps)"), static_cast<int>(QualityPreset::Balanced));
  qualityPreset_->addItem(tr("Draft (a quarter of the steps)"), static_cast<int>(QualityPreset::Draft));
  qualityPreset_->addItem(tr("Few-step (distilled LoRAs and models)"), static_cast<int>(QualityPreset::FewStep));
  qualityPreset_->addItem(tr("Custom (advanced view)"), static_cast<int>(QualityPreset::Custom));
  vramBudget_->setDecimals(1);
  vramBudget_->setSuffix(tr(" GiB"));
  vramBudget_->setSpecialValueText(tr("none (the card's free memory)"));
  length_->setDecimals(0);
  guidance_->setDecimals(2);
  shift_->setDecimals(2);
  seed_->setObjectName(QStringLiteral("seed"));
  seed_->setValidator(new QRegularExpressionValidator(QRegularExpression(QStringLiteral("\\d{1,19}")), seed_));
  randomSeed_->setObjectName(QStringLiteral("randomSeed"));
  seedUsed_->setObjectName(QStringLiteral("seedUsed"));
  sampler_->setObjectName(QStringLiteral("sampler"));
  sampler_->addItem(tr("UniPC (the reference's)"), static_cast<int>(Sampler::UniPC));
  sampler_->addItem(tr("Euler (step-distilled models)"), static_cast<int>(Sampler::Euler));
  timesteps_->setObjectName(QStringLiteral("timesteps"));
  timesteps_->setPlaceholderText(tr("empty: steps from the shift formula"));
  // Whole numbers of at most 4 digits, separated by commas or spaces.
  timesteps_->setValidator(
      new QRegularExpressionValidator(QRegularExpression(QStringLiteral("[0-9]{0,4}([ ,]+[0-9]{0,4})*")), timesteps_));
  fewStep_->setObjectName(QStringLiteral("fewStepPreset"));
  causalAttention_->setObjectName(QStringLiteral("causalAttention"));
  loras_->setObjectName(QStringLiteral("loras"));
  mode_->setObjectName(QStringLiteral("mode"));
  mode_->addItems({tr("Synchronous"), tr("Asynchronous (ar_step)")});
  longVideo_->setObjectName(QStringLiteral("longVideo"));
  longVideo_->setCheckable(true);
  fp8_->setObjectName(QStringLiteral("fp8"));
  int8Attention_->setObjectName(QStringLiteral("int8Attention"));
  stepCache_->setDecimals(2);
  startImage_->setObjectName(QStringLiteral("startImage"));
  endImage_->setObjectName(QStringLiteral("endImage"));
  extendVideo_->setObjectName(QStringLiteral("extendVideo"));
  outputFolder_->setObjectName(QStringLiteral("outputFolder"));
  outputFolder_->setPlaceholderText(tr("empty: Videos/SkyReels"));
  codec_->setObjectName(QStringLiteral("codec"));
  codec_->addItem(tr("H.264 (.mp4)"), static_cast<int>(OutputCodec::H264Mp4));
  codec_->addItem(tr("FFV1 lossless (.mkv)"), static_cast<int>(OutputCodec::Ffv1Mkv));
  problem_->setObjectName(QStringLiteral("formProblem"));
  problem_->setWordWrap(true);
  problem_->setStyleSheet(QStringLiteral("color: #b00020;"));
  problem_->hide();

  buildLayout();
  applySettingTooltips(this);
  connectSignals();
  wheelGuard_->guard(this);
  setJob(StudioJob{});
}

// Rows and groups marked advanced are hidden in the simple view, unless one of their settings has a
// problem: an error is always shown next to its field.
void SettingsForm::buildLayout() {
  auto* layout = new QVBoxLayout(this);
  layout->setContentsMargins(0, 0, 0, 0);
  auto group = [&](const QString& title) {
    auto* box = new QGroupBox(title, this);
    auto* form = new QFormLayout(box);
    form->setFieldGrowthPolicy(QFormLayout::AllNonFixedFieldsGrow);
    form->setRowWrapPolicy(QFormLayout::WrapLongRows);
    layout->addWidget(box);
    return form;
  };
  auto advancedRow = [&](QFormLayout* form, const QString& label, QWidget* field, QStringList keys) {
    form->addRow(label, field);
    advancedRows_.push_back({form, field, std::move(keys)});
  };
  auto advancedGroup = [&](QFormLayout* form) { advancedGroups_.push_back({form->parentWidget(), {}}); };

  // The simple view: prompt, model, resolution, length, quality/speed preset, seed.
  auto* prompts = group(tr("Prompt"));
  prompts->addRow(prompt_);
  advancedRow(prompts, tr("Negative"), negativePrompt_, {QStringLiteral("negative_prompt")});
  addFieldProblem(prompts, "prompt");
  addFieldProblem(prompts, "negative_prompt");

  // The model row: a model picker takes the folder field's place.
  auto* model = group(tr("Model"));
  model->addRow(tr("Folder"), row(this, {modelFolder_, useDemo_, recommended_, models_}));
  advancedRow(model, tr("Device"), device_, {});

  auto* video = group(tr("Video"));
  video->addRow(tr("Resolution"), resolution_);
  sizeRow_ = row(this, {width_, new QLabel(QStringLiteral("×"), this), height_}, -1);
  advancedRow(video, tr("Width × height"), sizeRow_, {QStringLiteral("resolution")});
  addFieldProblem(video, "resolution");
  video->addRow(tr("Length"), row(this, {length_, lengthUnit_}));
  video->addRow(QString(), lengthNote_);
  addFieldProblem(video, "num_frames");
  advancedRow(video, tr("Frame rate"), fps_, {QStringLiteral("fps")});
  addFieldProblem(video, "fps");

  auto* sampling = group(tr("Quality and seed"));
  sampling->addRow(tr("Preset"), qualityPreset_);
  advancedRow(sampling, tr("Sampler"), row(this, {sampler_, fewStep_}), {});
  advancedRow(sampling, tr("Steps"), steps_, {QStringLiteral("steps")});
  addFieldProblem(sampling, "steps");
  advancedRow(sampling, tr("Timesteps"), timesteps_, {QStringLiteral("timestep_list")});
  addFieldProblem(sampling, "timestep_list");
  advancedRow(sampling, tr("Guidance"), guidance_, {QStringLiteral("guidance_scale")});
  addFieldProblem(sampling, "guidance_scale");
  advancedRow(sampling, tr("Shift"), shift_, {QStringLiteral("shift")});
  addFieldProblem(sampling, "shift");
  sampling->addRow(tr("Seed"), row(this, {seed_, randomSeed_}));
  sampling->addRow(QString(), seedUsed_);
  addFieldProblem(sampling, "seed");

  auto* loras = group(tr("LoRAs"));
  advancedGroup(loras);
  loras->addRow(loras_);
  addFieldProblem(loras, "loras");

  auto* forcing = group(tr("Diffusion forcing"));
  advancedGroup(forcing);
  forcing->addRow(tr("Mode"), mode_);
  forcing->addRow(tr("ar_step"), arStep_);
  addFieldProblem(forcing, "ar_step");
  forcing->addRow(tr("Causal block size"), causalBlock_);
  addFieldProblem(forcing, "causal_block_size");
  forcing->addRow(QString(), causalAttention_);

  auto* windows = new QFormLayout(longVideo_);
  advancedGroups_.push_back({longVideo_, {}});
  windows->addRow(tr("Window (frames)"), baseFrames_);
  addFieldProblem(windows, "base_num_frames");
  windows->addRow(tr("Overlap (frames)"), overlap_);
  addFieldProblem(windows, "overlap_history");
  layout->addWidget(longVideo_);
  forcing->addRow(tr("Add noise"), addNoise_);
  addFieldProblem(forcing, "addnoise_condition");

  auto* fast = group(tr("Speed and memory (change the video)"));
  advancedGroup(fast);
  fast->addRow(QString(), fp8_);
  fast->addRow(QString(), int8Attention_);
  fast->addRow(tr("Skip guidance, last steps"), cfgSkip_);
  addFieldProblem(fast, "cfg_skip_last_steps");
  fast->addRow(tr("Step cache threshold"), stepCache_);
  addFieldProblem(fast, "step_cache_threshold");
  fast->addRow(tr("GPU memory budget"), vramBudget_);
  addFieldProblem(fast, "vram_budget_gib");

  auto* inputs = group(tr("Inputs"));
  advancedGroup(inputs);
  inputs->addRow(tr("Start image"), startImage_);
  inputs->addRow(tr("End image"), endImage_);
  inputs->addRow(tr("Video to extend"), extendVideo_);
  addFieldProblem(inputs, "inputs");

  auto* output = group(tr("Output"));
  advancedGroup(output);
  output->addRow(tr("Folder"), outputFolder_);
  output->addRow(tr("Codec"), codec_);
  output->addRow(tr("Quality (CRF)"), crf_);

  layout->addWidget(problem_);
  layout->addStretch(1);
}

void SettingsForm::setAdvanced(bool advanced) {
  advanced_ = advanced;
  applyView();
}

void SettingsForm::applyView() {
  auto hasProblem = [this](const QStringList& keys) {
    return std::any_of(keys.begin(), keys.end(), [this](const QString& key) { return shownProblems_.contains(key); });
  };
  const bool customSize = !resolution_->currentData().toSize().isValid();
  for (const auto& r : std::as_const(advancedRows_))
    r.form->setRowVisible(r.field, advanced_ || hasProblem(r.keys) || (r.field == sizeRow_ && customSize));
  for (const auto& g : std::as_const(advancedGroups_)) g.box->setVisible(advanced_ || hasProblem(g.keys));
}

void SettingsForm::connectSignals() {
  auto refresh = [this] { refreshDerived(); };
  connect(fp8_, &QCheckBox::toggled, this, refresh);
  connect(int8Attention_, &QCheckBox::toggled, this, refresh);
  connect(causalAttention_, &QCheckBox::toggled, this, refresh);
  connect(sampler_, qOverload<int>(&QComboBox::currentIndexChanged), this, refresh);
  connect(timesteps_, &QLineEdit::textChanged, this, refresh);
  connect(fewStep_, &QPushButton::clicked, this, &SettingsForm::applyFewStepPreset);
  connect(qualityPreset_, qOverload<int>(&QComboBox::activated), this, &SettingsForm::applyQualityPreset);
  connect(loras_, &LoraList::changed, this, refresh);
  for (auto* s : {width_, height_, fps_, steps_, arStep_, causalBlock_, baseFrames_, overlap_, addNoise_, cfgSkip_, crf_})
    connect(s, qOverload<int>(&QSpinBox::valueChanged), this, refresh);
  for (auto* s : {length_, guidance_, shift_, stepCache_, vramBudget_}) connect(s, qOverload<double>(&QDoubleSpinBox::valueChanged), this, refresh);
  for (auto* c : {device_, mode_, codec_}) connect(c, qOverload<int>(&QComboBox::currentIndexChanged), this, refresh);
  for (auto* p : {startImage_, endImage_, extendVideo_, outputFolder_}) connect(p, &PathField::pathChosen, this, refresh);
  connect(prompt_, &QPlainTextEdit::textChanged, this, &SettingsForm::changed);
  connect(negativePrompt_, &QPlainTextEdit::textChanged, this, &SettingsForm::changed);
  connect(seed_, &QLineEdit::textChanged, this, refresh);
  connect(randomSeed_, &QCheckBox::toggled, this, refresh);
  connect(longVideo_, &QGroupBox::toggled, this, refresh);
  connect(resolution_, qOverload<int>(&QComboBox::currentIndexChanged), this, &SettingsForm::onResolutionPreset);
  connect(lengthUnit_, qOverload<int>(&QComboBox::currentIndexChanged), this, &SettingsForm::onLengthUnitChanged);
  connect(length_, &QDoubleSpinBox::editingFinished, this, &SettingsForm::snapLengthField);
  connect(causalBlock_, &QSpinBox::editingFinished, this, &SettingsForm::snapLengthField);
  // Picking a model (the demo included) brings its recommended settings.
  connect(modelFolder_, &PathField::pathChosen, this, [this] { applyRecommendedSettings(); });
  connect(useDemo_, &QPushButton::clicked, this, [this] {
    modelFolder_->setPath(QString());
    applyRecommendedSettings();
  });
  connect(recommended_, &QPushButton::clicked, this, [this] { applyRecommendedSettings(); });
  connect(models_, &QPushButton::clicked, this, &SettingsForm::modelManagerRequested);
}

void SettingsForm::chooseModelFolder(const QString& folder) {
  modelFolder_->setPath(folder);
  applyRecommendedSettings();
}

StudioJob SettingsForm::job() const {
  StudioJob j;
  auto& s = j.settings;
  s.prompt = prompt_->toPlainText().trimmed().toStdString();
  s.negative_prompt = negativePrompt_->toPlainText().trimmed().toStdString();
  s.width = width_->value();
  s.height = height_->value();
  s.fps = fps_->value();
  s.num_frames = frameCount();
  s.sampler = static_cast<Sampler>(sampler_->currentData().toInt());
  s.timestep_list = timestepList();
  s.steps = s.timestep_list.empty() ? steps_->value() : static_cast<int>(s.timestep_list.size());
  s.guidance_scale = guidance_->value();
  s.shift = shift_->value();
  s.seed = seed_->text().toULongLong();
  s.ar_step = mode_->currentIndex() == kAsync ? arStep_->value() : 0;
  s.causal_block_size = causalBlock_->value();
  s.causal_attention = causalAttention_->isChecked();
  s.loras = loras_->enabledLoras();  // off ones stay in the list (loraList) only
  s.addnoise_condition = addNoise_->value();
  s.fp8 = fp8_->isChecked();
  s.int8_attention = int8Attention_->isChecked();
  s.cfg_skip_last_steps = cfgSkip_->value();
  s.step_cache_threshold = stepCache_->value();
  if (vramBudget_->value() > 0) s.vram_budget_gib = vramBudget_->value();
  if (longVideo_->isChecked()) {
    s.base_num_frames = baseFrames_->value();
    s.overlap_history = overlap_->value();
  } else {
    s.base_num_frames = s.num_frames;
    s.overlap_history.reset();
  }
  j.modelFolder = modelFolder_->path();
  j.device = device_->currentData().toString();
  j.randomSeed = randomSeed_->isChecked();
  j.startImage = startImage_->path();
  j.endImage = endImage_->path();
  j.extendVideo = extendVideo_->path();
  j.settings = j.effectiveSettings();
  j.outputFolder = outputFolder_->path();
  j.codec = static_cast<OutputCodec>(codec_->currentData().toInt());
  j.crf = crf_->value();
  j.loraList = loras_->loras();
  return j;
}

void SettingsForm::setJob(const StudioJob& job) {
  loading_ = true;
  modelFolder_->setPath(job.modelFolder);
  const int device = device_->findData(job.device);
  if (device >= 0) device_->setCurrentIndex(device);
  randomSeed_->setChecked(job.randomSeed);
  startImage_->setPath(job.startImage);
  endImage_->setPath(job.endImage);
  extendVideo_->setPath(job.extendVideo);
  outputFolder_->setPath(job.outputFolder);
  codec_->setCurrentIndex(std::max(0, codec_->findData(static_cast<int>(job.codec))));
  crf_->setValue(job.crf);
  loading_ = false;
  setSettings(job.settings);
  if (!job.loraList.empty()) loras_->setLoras(job.loraList);  // the disabled ones too
}

void SettingsForm::setSettings(const GenerationSettings& s) {
  loading_ = true;
  prompt_->setPlainText(QString::fromStdString(s.prompt));
  negativePrompt_->setPlainText(QString::fromStdString(s.negative_prompt));
  setResolution(s.width, s.height);
  fps_->setValue(s.fps);
  causalBlock_->setValue(s.causal_block_size);
  causalAttention_->setChecked(s.causal_attention);
  std::vector<StudioLora> loras;
  for (const auto& l : s.loras) loras.push_back({l, true});
  loras_->setLoras(loras);
  lengthUnit_->setCurrentIndex(kFrames);
  length_->setDecimals(0);
  length_->setRange(0, 100000);
  length_->setSingleStep(4);
  length_->setValue(static_cast<double>(s.num_frames));
  sampler_->setCurrentIndex(std::max(0, sampler_->findData(static_cast<int>(s.sampler))));
  QStringList timesteps;
  for (const int t : s.timestep_list) timesteps << QString::number(t);
  timesteps_->setText(timesteps.join(QStringLiteral(", ")));
  steps_->setValue(s.steps);
  guidance_->setValue(s.guidance_scale);
  shift_->setValue(s.shift);
  seed_->setText(QString::number(s.seed));
  mode_->setCurrentIndex(s.ar_step > 0 ? kAsync : kSync);
  if (s.ar_step > 0) arStep_->setValue(s.ar_step);
  longVideo_->setChecked(s.overlap_history.has_value());
  baseFrames_->setValue(static_cast<int>(s.base_num_frames));
  if (s.overlap_history) overlap_->setValue(static_cast<int>(*s.overlap_history));
  addNoise_->setValue(s.addnoise_condition);
  fp8_->setChecked(s.fp8);
  int8Attention_->setChecked(s.int8_attention);
  cfgSkip_->setValue(s.cfg_skip_last_steps);
  stepCache_->setValue(s.step_cache_threshold);
  vramBudget_->setValue(s.vram_budget_gib.value_or(0.0));
  loading_ = false;
  refreshDerived();
}

void SettingsForm::showSeedUsed(quint64 seed) {
  seed_->setText(QString::number(seed));
  seedUsed_->setText(tr("Seed used: %1").arg(seed));
}

bool SettingsForm::applyRecommendedSettings(QString* error) {
  QString why;
  auto settings = recommendedSettings(modelFolder_->path(), &why);
  if (!settings) {
    modelProblem_ = tr("Model folder: %1").arg(why);
    refreshDerived();
    if (error) *error = why;
    return false;
  }
  modelProblem_.clear();
  const auto prompt = prompt_->toPlainText().trimmed();
  if (!prompt.isEmpty()) settings->prompt = prompt.toStdString();
  // The user's LoRAs stay, as the prompt does: they are not the model folder's to recommend.
  const auto loras = loras_->loras();
  setSettings(*settings);
  loras_->setLoras(loras);
  return true;
}

void SettingsForm::addFieldProblem(QFormLayout* form, const char* key) {
  const QString name = QString::fromLatin1(key);
  auto* box = new QWidget(this);
  auto* layout = new QHBoxLayout(box);
  layout->setContentsMargins(0, 0, 0, 0);
  auto* message = new QLabel(box);
  message->setObjectName(QStringLiteral("problem_") + name);
  message->setWordWrap(true);
  message->setStyleSheet(QStringLiteral("color: #b00020;"));
  auto* fix = new QPushButton(box);
  fix->setObjectName(QStringLiteral("fix_") + name);
  fix->hide();
  layout->addWidget(message, 1);
  layout->addWidget(fix, 0, Qt::AlignTop);
  box->hide();
  form->addRow(box);  // spans both columns: the message has the width of the form
  fieldProblems_.insert(name, box);
  for (auto& g : advancedGroups_)
    if (g.box == form->parentWidget()) g.keys << name;
}

void SettingsForm::showFieldProblems(const std::vector<SettingsProblem>& problems) {
  for (auto* box : std::as_const(fieldProblems_)) box->hide();
  shownProblems_.clear();
  for (const auto& p : problems) {
    auto* box = fieldProblems_.value(QString::fromStdString(p.field));
    if (!box) continue;  // a key without a field here: the line under the form says it
    const QString key = QString::fromStdString(p.field);
    box->findChild<QLabel*>(QStringLiteral("problem_") + key)->setText(QString::fromStdString(p.message));
    auto* fix = box->findChild<QPushButton*>(QStringLiteral("fix_") + key);
    fix->setVisible(p.fix != SettingsFix::None);
    fix->setText(tr(fix_label(p.fix)));
    fix->disconnect();
    connect(fix, &QPushButton::clicked, this, [this, f = p.fix] { applyFix(f); });
    box->show();
    shownProblems_.insert(key);
  }
}

void SettingsForm::applyFix(SettingsFix fix) {
  // The engine decides what the fix changes; the form only shows the result.
  const auto loras = loras_->loras();  // setSettings() lists only the enabled ones
  setSettings(apply_fix(job().settings, fix));
  loras_->setLoras(loras);
}

QString SettingsForm::problem() const {
  return QString::fromStdString(validate(job().effectiveSettings()));
}

qint64 SettingsForm::frameCount() const {
  const int cbs = causalBlock_->value();
  // No length is no video: passed on as 0 for the check to say so, not snapped up to a block.
  if (length_->value() <= 0) return 0;
  if (lengthUnit_->currentIndex() == kSeconds) return frames_for_seconds(length_->value(), fps_->value(), cbs);
  return snap_frames(std::llround(length_->value()), cbs);
}

const GenerationSettings& SettingsForm::recommended() const {
  // Read once per folder: the form asks on every change.
  const QString folder = modelFolder_->path();
  if (!recommendedCache_ || folder != recommendedFolder_) {
    recommendedFolder_ = folder;
    recommendedCache_ = recommendedSettings(folder).value_or(GenerationSettings{});
  }
  return *recommendedCache_;
}

void SettingsForm::applyQualityPreset() {
  const auto preset = static_cast<QualityPreset>(qualityPreset_->currentData().toInt());
  if (preset == QualityPreset::Custom) return;
  const auto loras = loras_->loras();  // setSettings() lists only the enabled ones
  setSettings(withQualityPreset(job().settings, preset, recommended()));
  loras_->setLoras(loras);
}

void SettingsForm::applyFewStepPreset() {
  auto s = job().settings;
  apply_few_step_preset(s);
  const auto loras = loras_->loras();  // setSettings() lists only the enabled ones
  setSettings(s);
  loras_->setLoras(loras);
}

std::vector<int> SettingsForm::timestepList() const {
  std::vector<int> list;
  static const QRegularExpression separators(QStringLiteral("[ ,]+"));
  for (const auto& part : timesteps_->text().split(separators, Qt::SkipEmptyParts)) list.push_back(part.toInt());
  return list;
}

void SettingsForm::onResolutionPreset() {
  const QSize size = resolution_->currentData().toSize();
  const bool custom = !size.isValid();
  width_->setEnabled(custom);
  height_->setEnabled(custom);
  if (!custom) {
    width_->setValue(size.width());
    height_->setValue(size.height());
  }
  refreshDerived();
}

void SettingsForm::onLengthUnitChanged() {
  // Keep the same length, in the other unit.
  const qint64 frames = lengthUnit_->currentIndex() == kSeconds
                            ? snap_frames(std::llround(length_->value()), causalBlock_->value())
                            : frames_for_seconds(length_->value(), fps_->value(), causalBlock_->value());
  const QSignalBlocker block(length_);
  if (lengthUnit_->currentIndex() == kSeconds) {
    length_->setDecimals(2);
    length_->setRange(0, 36000);
    length_->setSingleStep(0.5);
    length_->setValue(static_cast<double>(frames) / fps_->value());
  } else {
    length_->setDecimals(0);
    length_->setRange(0, 100000);
    length_->setSingleStep(4);
    length_->setValue(static_cast<double>(frames));
  }
  refreshDerived();
}

void SettingsForm::snapLengthField() {
  if (lengthUnit_->currentIndex() != kFrames) return;
  const auto snapped = static_cast<double>(frameCount());
  if (snapped != length_->value()) length_->setValue(snapped);
}

void SettingsForm::setResolution(qint64 width, qint64 height) {
  const QSize size(static_cast<int>(width), static_cast<int>(height));
  int index = resolution_->findData(size);
  if (index < 0) index = resolution_->count() - 1;  // Custom
  const QSignalBlocker block(resolution_);
  resolution_->setCurrentIndex(index);
  width_->setValue(size.width());
  height_->setValue(size.height());
  width_->setEnabled(index == resolution_->count() - 1);
  height_->setEnabled(index == resolution_->count() - 1);
}

void SettingsForm::refreshDerived() {
  if (loading_) return;
  wheelGuard_->guard(loras_);  // its strength fields come and go with its rows
  arStep_->setEnabled(mode_->currentIndex() == kAsync);
  // A timestep list sets the step count.
  const auto list = timestepList();
  steps_->setEnabled(list.empty());
  if (!list.empty()) {
    const QSignalBlocker block(steps_);
    steps_->setValue(static_cast<int>(list.size()));
  }
  crf_->setEnabled(static_cast<OutputCodec>(codec_->currentData().toInt()) == OutputCodec::H264Mp4);
  baseFrames_->setEnabled(longVideo_->isChecked());
  overlap_->setEnabled(longVideo_->isChecked());

  const qint64 frames = frameCount();
  lengthNote_->setText(tr("→ %1 frames · %2 s at %3 fps (snapped to 1 + 4k frames, whole causal blocks)")
                           .arg(frames)
                           .arg(static_cast<double>(frames) / fps_->value(), 0, 'f', 2)
                           .arg(fps_->value()));
  if (!randomSeed_->isChecked()) seedUsed_->clear();
  {
    // The preset the settings amount to; changing steps or the sampler by hand makes it Custom.
    const QSignalBlocker block(qualityPreset_);
    const auto preset = qualityPresetOf(job().settings, recommended());
    qualityPreset_->setCurrentIndex(qualityPreset_->findData(static_cast<int>(preset)));
  }

  const auto checked = check_settings(job().effectiveSettings());
  showFieldProblems(checked);
  QStringList problems;
  if (!modelProblem_.isEmpty()) problems << modelProblem_;
  for (const auto& p : checked) problems << QString::fromStdString(p.message);
  const QString why = problems.join(QLatin1Char('\n'));
  problem_->setText(why);
  problem_->setVisible(!why.isEmpty());
  applyView();
  if (why != lastProblem_) {
    lastProblem_ = why;
    Q_EMIT problemChanged(why);
  }
  Q_EMIT changed();
}

}  // namespace skyreels::ui
