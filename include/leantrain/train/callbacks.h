// Keras' callbacks (hooks the fit loop calls at the start and end of training, of each epoch and
// of each batch) and learning-rate schedules. Names, arguments, defaults, decisions and messages
// follow Keras 3 (keras/src/callbacks/*.py, keras/src/optimizers/schedules/).
//
// Output, as Keras': verbose messages go to std::cout (Keras' io_utils.print_msg), most starting
// with "\n" to leave the progress bar's line; warnings go to std::cerr as one line
// "UserWarning: <Keras' message>", each distinct message once per callback object (Python shows
// a warning once per call site and text).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace leantrain::train {

class Trainer;

// Keras' logs dict: "loss", "accuracy", "val_loss", "val_accuracy", "learning_rate", ...
using Logs = std::map<std::string, double>;

// A callback. Epochs are 0-based as in Keras' hooks (the progress line shows epoch + 1).
// on_epoch_end may add entries to `logs` (e.g. "learning_rate"); later callbacks and the history
// see them. A callback stops training with trainer.stop_training(). Callbacks run on the
// training thread; they may call the trainer's public methods (save_weights, set_learning_rate,
// get_weights/set_weights) between steps. A callback object may be passed to several fits (one
// at a time): on_train_begin resets what Keras resets. Not thread-safe.
class Callback {
 public:
  virtual ~Callback() = default;
  virtual void on_train_begin(Trainer& trainer) { (void)trainer; }
  virtual void on_epoch_begin(Trainer& trainer, int epoch) {
    (void)trainer;
    (void)epoch;
  }
  virtual void on_train_batch_end(Trainer& trainer, int64_t batch, const Logs& logs) {
    (void)trainer;
    (void)batch;
    (void)logs;
  }
  virtual void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) {
    (void)trainer;
    (void)epoch;
    (void)logs;
  }
  virtual void on_train_end(Trainer& trainer, const Logs& logs) {
    (void)trainer;
    (void)logs;
  }
};
using CallbackPtr = std::shared_ptr<Callback>;

// How the callbacks that watch a quantity (ModelCheckpoint, EarlyStopping, ReduceLROnPlateau)
// read `mode`, as Keras 3's MonitorCallback:
//   - "min": a value improves on the best when value + |min_delta| < best; "max": when
//     value - |min_delta| > best. Anything improves on no best yet; a NaN never improves.
//   - "auto": "loss" and "val_loss" are minimized; a compiled metric ("accuracy",
//     "val_accuracy", any name given in CompileOptions::metrics, with or without "val_") is
//     maximized (every metric leantrain offers is an accuracy). Any other name throws
//     Error(kInvalidArgument) at on_train_begin (Keras raises at the first epoch end), asking
//     for mode "min" or "max".
//   - another mode: a warning, then "auto" (as Keras).

// ModelCheckpoint: saves the weights (safetensors, Trainer::save_weights: atomic) after each
// epoch, or with save_best_only only when `monitor` improves on the best so far (which starts
// at initial_value_threshold when given). The path is Keras' filepath.format(epoch=epoch + 1,
// **logs): "{epoch}", "{epoch:02d}", "{val_loss:.2f}", "{val_accuracy:.4f}", ... (see
// format_checkpoint_path). Missing parent directories are created.
// With save_best_only and `monitor` absent from the logs it warns "Can save best model only
// with <monitor> available." and saves, as Keras.
// Throws from on_epoch_end: what format_checkpoint_path throws; Error(kInvalidArgument) when
// the path is an existing directory; Error(kIo) when a directory cannot be created or (from
// Trainer::save_weights) the file cannot be written. From on_train_begin: see "auto" above.
struct ModelCheckpointOptions {
  std::string filepath = {};
  std::string monitor = "val_loss";
  int verbose = 0;  // 1: Keras' "Epoch 3: val_loss improved from 0.41234 to 0.39871, ..."
  bool save_best_only = false;
  std::string mode = "auto";  // auto, min, max
  std::optional<double> initial_value_threshold = {};
  // What saving writes to the formatted path; default Trainer::save_weights (safetensors). The
  // Python package passes Keras' model.save / model.save_weights (.keras, .weights.h5).
  std::function<void(Trainer& trainer, const std::string& path)> save = {};
};
// Throws Error(kInvalidArgument) for an empty filepath.
CallbackPtr ModelCheckpoint(const ModelCheckpointOptions& options);

// Keras' ModelCheckpoint file name: `filepath` formatted as Python's
// filepath.format(epoch=epoch + 1, **logs) (epoch is 0-based here, as the hooks'). "{{" and "}}"
// are literal braces. A field is a name and an optional format spec from Python's mini-language:
// [[fill]align][sign][0][width][.precision][type], align one of < > = ^, sign one of + - space,
// type one of d e E f F g G % or none. "epoch" is an integer (type d or none; e, f, g, % format
// it as a float); log values are floats: no type is Python's str(float) (shortest round trip,
// "0.5", "1e-05"), or with a precision Python's general format.
// Throws Error(kInvalidArgument) naming `filepath` for a field absent from `logs` (listing the
// available keys), a type that does not fit the value ("{val_loss:d}", "{epoch:.2}"), or a
// malformed pattern (a lone "{" or "}", a positional "{}"); Error(kUnimplemented) for Python
// features outside the subset above (conversions "!r", attribute or index fields, nested
// fields, "#", "z", grouping "," or "_", types b c n o s x X).
std::string format_checkpoint_path(const std::string& filepath, int epoch, const Logs& logs);

// EarlyStopping, Keras 3's logic: at each epoch end from start_from_epoch on, with `monitor` in
// the logs:
//   - wait += 1; if the value improves on the best (by more than min_delta), it becomes the best
//     (and its weights are kept with restore_best_weights) and wait returns to 0 only if it
//     also improves on `baseline` (when given);
//   - otherwise, when wait >= patience and epoch > 0, training stops.
// With restore_best_weights, on_train_end puts back the best epoch's weights whenever a best
// was recorded, whether training stopped early or ran to the end (Keras 3). A missing monitor
// warns and skips the epoch. verbose 1 prints "Epoch N: early stopping" and "Restoring model
// weights from the end of the best epoch: N." (1-based).
struct EarlyStoppingOptions {
  std::string monitor = "val_loss";
  double min_delta = 0.0;
  int patience = 0;
  int verbose = 0;
  std::string mode = "auto";
  std::optional<double> baseline = {};
  bool restore_best_weights = false;
  int start_from_epoch = 0;
};
CallbackPtr EarlyStopping(const EarlyStoppingOptions& options = {});

// CSVLogger: one row per epoch, byte for byte as Keras' (Python's csv.DictWriter, excel
// dialect): the header "epoch" then the first epoch's log keys sorted, followed by
// "val_<key>" for each key when no key starts with "val_" (those columns hold "NA"); "epoch"
// is 0-based; values as Python's str(float) ("0.5", "1e-05", "nan"); a key missing from a later
// epoch is "NA"; fields holding the separator, a quote or a line break are quoted; lines end
// with "\r\n" (the csv module's terminator). The file is opened at on_train_begin (truncated,
// or with `append` continued, with no second header unless it was empty), flushed after every
// row and closed at on_train_end.
// Throws Error(kInvalidArgument) unless `separator` is one character (Python's csv requires
// it); from on_train_begin / on_epoch_end Error(kIo) naming the file and the system's reason
// when it cannot be opened or written (its directory must exist, as in Keras).
struct CSVLoggerOptions {
  std::string filename = {};
  std::string separator = ",";
  bool append = false;
};
CallbackPtr CSVLogger(const CSVLoggerOptions& options);

// TerminateOnNaN: after each batch whose "loss" is NaN or infinite, prints Keras' "Batch N:
// Invalid loss, terminating training" (N the 0-based batch of the epoch) and stops training;
// with raise_error it throws Error(kInvalidArgument) instead, so no later hook runs (Keras'
// raise_error=True).
CallbackPtr TerminateOnNaN(bool raise_error = false);

// ReduceLROnPlateau, Keras 3's logic at each epoch end: logs["learning_rate"] is set to the
// current rate; then, with `monitor` in the logs, a cooldown epoch counts down and clears wait;
// an improvement (by more than min_delta) becomes the best and clears wait; otherwise, out of
// cooldown, wait += 1 and when wait >= patience the rate becomes max(lr * factor, min_lr) if lr
// > min_lr (verbose: "Epoch N: ReduceLROnPlateau reducing learning rate to X."), then cooldown
// starts and wait is cleared. The rate is read as the optimizer holds it, in float32 (as
// Keras' variable). A missing monitor warns. on_train_begin resets best, wait and cooldown.
// Throws Error(kInvalidArgument) for factor >= 1; at on_train_begin when the optimizer has a
// schedule (whose rate cannot be set, as in Keras).
struct ReduceLROnPlateauOptions {
  std::string monitor = "val_loss";
  double factor = 0.1;
  int patience = 10;
  int verbose = 0;
  std::string mode = "auto";
  double min_delta = 1e-4;
  int cooldown = 0;
  double min_lr = 0.0;
};
CallbackPtr ReduceLROnPlateau(const ReduceLROnPlateauOptions& options = {});

// LearningRateScheduler: at the start of each epoch sets the learning rate to
// schedule(epoch, current learning rate) (the current rate as the optimizer holds it, float32);
// verbose 1 prints "Epoch N: LearningRateScheduler setting learning rate to X.". At each epoch
// end logs["learning_rate"] is the rate in use. Throws Error(kInvalidArgument) for an empty
// schedule; at on_train_begin when the optimizer has a schedule; from on_epoch_begin what
// Trainer::set_learning_rate throws for a negative or non-finite result.
CallbackPtr LearningRateScheduler(std::function<double(int epoch, double lr)> schedule,
                                  int verbose = 0);

// A learning-rate schedule over optimizer steps (keras.optimizers.schedules): the learning rate
// of the step that follows `step` completed steps. Computed in double (Keras in float32).
using LearningRateSchedule = std::function<double(int64_t step)>;

// CosineDecay with Keras' arguments. Without warmup_target:
//   initial_learning_rate * ((1 - alpha) * 0.5 * (1 + cos(pi * s / decay_steps)) + alpha),
//   s = min(step, decay_steps).
// With warmup_target, s = min(step, warmup_steps + decay_steps) and
//   s < warmup_steps:  initial + (warmup_target - initial) * s / warmup_steps (linear warmup),
//   otherwise:         the cosine above from warmup_target over s - warmup_steps.
// Throws Error(kInvalidArgument) unless decay_steps > 0 and warmup_steps >= 0.
struct CosineDecayOptions {
  double initial_learning_rate = 0.001;
  int64_t decay_steps = 1000;
  double alpha = 0.0;
  std::optional<double> warmup_target = {};
  int64_t warmup_steps = 0;
};
LearningRateSchedule CosineDecay(const CosineDecayOptions& options);

// ExponentialDecay: initial_learning_rate * decay_rate ^ (step / decay_steps), the exponent
// floored when staircase. Throws Error(kInvalidArgument) unless decay_steps > 0.
struct ExponentialDecayOptions {
  double initial_learning_rate = 0.001;
  int64_t decay_steps = 1000;
  double decay_rate = 0.96;
  bool staircase = false;
};
LearningRateSchedule ExponentialDecay(const ExponentialDecayOptions& options);

// PiecewiseConstantDecay: values[0] while step <= boundaries[0], values[i] while
// boundaries[i-1] < step <= boundaries[i], values.back() after the last boundary. Throws
// Error(kInvalidArgument) unless there is at least one boundary, values.size() ==
// boundaries.size() + 1 and the boundaries strictly increase.
LearningRateSchedule PiecewiseConstantDecay(std::vector<int64_t> boundaries,
                                            std::vector<double> values);

}  // namespace leantrain::train
