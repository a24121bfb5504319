// Keras' callbacks (see callbacks.h), and the bits of Python they print with: str(float), the
// format-spec mini-language of ModelCheckpoint's file names, and csv rows.
#include "leantrain/train/callbacks.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <string_view>
#include <system_error>
#include <utility>

#include "leantrain/core/error.h"
#include "leantrain/train/trainer.h"
#include "train/objective.h"

namespace leantrain::train {
namespace {

// ---------------------------------------------------------------------------------------------
// Python's number formatting.

// Python's repr(float), which is also str(float): the shortest digits that read back to `v`
// (std::to_chars gives them), in fixed notation when the decimal exponent is in [-4, 16), with
// ".0" for whole numbers ("0.5", "0.0001", "3.0"), else scientific with at least two exponent
// digits ("1e-05", "1.5e+16").
std::string py_repr(double v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  const std::to_chars_result r =
      std::to_chars(buf, buf + sizeof buf, v, std::chars_format::scientific);
  const std::string s(buf, r.ptr);  // e.g. "-1.2345e+02"
  const size_t e = s.find('e');
  const int exponent = std::stoi(s.substr(e + 1));
  if (exponent < -4 || exponent >= 16) return s;
  const bool negative = s[0] == '-';
  std::string digits;
  for (size_t i = negative ? 1 : 0; i < e; ++i) {
    if (s[i] != '.') digits += s[i];
  }
  std::string out = negative ? "-" : "";
  if (exponent < 0) {
    out += "0." + std::string(static_cast<size_t>(-exponent - 1), '0') + digits;
  } else {
    const auto int_digits = static_cast<size_t>(exponent + 1);
    if (digits.size() <= int_digits) {
      out += digits + std::string(int_digits - digits.size(), '0') + ".0";
    } else {
      out += digits.substr(0, int_digits) + "." + digits.substr(int_digits);
    }
  }
  return out;
}

// printf("%.<precision><type>", v) for type e or f (glibc rounds correctly, as Python does).
std::string c_format(char type, int precision, double v) {
  const char* fmt = type == 'e' ? "%.*e" : "%.*f";
  const int n = std::snprintf(nullptr, 0, fmt, precision, v);
  std::string s(static_cast<size_t>(n), '\0');
  std::snprintf(s.data(), s.size() + 1, fmt, precision, v);
  return s;
}

// Removes trailing zeros after a decimal point, and the point if nothing follows it.
std::string strip_zeros(std::string s) {
  if (s.find('.') == std::string::npos) return s;
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s;
}

// Python's general format of a finite v >= 0 with `precision` significant digits (0 means 1):
// scientific when the rounded exponent X < -4 or X >= precision, else fixed; trailing zeros
// removed. `add_dot_0` is the variant Python uses when a precision comes without a type: it
// switches to scientific from X >= precision - 1 and keeps one digit after the point.
std::string py_general(double v, int precision, bool add_dot_0) {
  const int p = std::max(precision, 1);
  const std::string sci = c_format('e', p - 1, v);
  const int x = std::stoi(sci.substr(sci.find('e') + 1));
  if (x < -4 || x >= (add_dot_0 ? p - 1 : p)) {
    const size_t e = sci.find('e');
    return strip_zeros(sci.substr(0, e)) + sci.substr(e);
  }
  std::string fixed = strip_zeros(c_format('f', p - 1 - x, v));
  if (add_dot_0 && fixed.find('.') == std::string::npos) fixed += ".0";
  return fixed;
}

// A parsed format spec: [[fill]align][sign][0][width][.precision][type].
struct FormatSpec {
  std::string fill = " ";  // one code point (UTF-8)
  char align = 0;          // '<', '>', '=', '^', or 0 (numbers: '>')
  char sign = '-';
  int width = 0;
  int precision = -1;  // -1: none
  char type = 0;       // 0: none
};

// The length of the UTF-8 code point that starts with byte `lead`.
size_t code_point_length(unsigned char lead) {
  if (lead >= 0xF0) return 4;
  if (lead >= 0xE0) return 3;
  if (lead >= 0xC0) return 2;
  return 1;
}

bool is_align(char c) { return c == '<' || c == '>' || c == '=' || c == '^'; }

FormatSpec parse_spec(std::string_view spec, const std::string& filepath) {
  FormatSpec f;
  size_t pos = 0;
  auto bad = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "ModelCheckpoint filepath \"" + filepath +
                                                  "\": format spec '" + std::string(spec) +
                                                  "': " + why);
  };
  bool fill_given = false;
  const size_t first = spec.empty() ? 0 : code_point_length(static_cast<unsigned char>(spec[0]));
  if (spec.size() > first && is_align(spec[first])) {
    f.fill = std::string(spec.substr(0, first));
    f.align = spec[first];
    fill_given = true;
    pos = first + 1;
  } else if (!spec.empty() && is_align(spec[0])) {
    f.align = spec[0];
    pos = 1;
  }
  if (pos < spec.size() && (spec[pos] == '+' || spec[pos] == '-' || spec[pos] == ' ')) {
    f.sign = spec[pos++];
  }
  if (pos < spec.size() && (spec[pos] == 'z' || spec[pos] == '#')) {
    throw Error(ErrorCode::kUnimplemented,
                "ModelCheckpoint filepath \"" + filepath + "\": the '" + spec[pos] +
                    "' option of Python's format spec is not supported; drop it");
  }
  if (!fill_given && pos < spec.size() && spec[pos] == '0') {
    f.fill = "0";
    if (f.align == 0) f.align = '=';
    ++pos;
  }
  while (pos < spec.size() && spec[pos] >= '0' && spec[pos] <= '9') {
    LT_CHECK(f.width < 100000, kInvalidArgument, "ModelCheckpoint filepath \"", filepath,
             "\": width too large in format spec '", spec, "'");
    f.width = f.width * 10 + (spec[pos++] - '0');
  }
  if (pos < spec.size() && (spec[pos] == ',' || spec[pos] == '_')) {
    throw Error(ErrorCode::kUnimplemented, "ModelCheckpoint filepath \"" + filepath +
                                               "\": digit grouping ('" + spec[pos] +
                                               "') is not supported; drop it");
  }
  if (pos < spec.size() && spec[pos] == '.') {
    ++pos;
    if (pos >= spec.size() || spec[pos] < '0' || spec[pos] > '9') {
      throw bad("format specifier missing precision");
    }
    f.precision = 0;
    while (pos < spec.size() && spec[pos] >= '0' && spec[pos] <= '9') {
      LT_CHECK(f.precision < 1000, kInvalidArgument, "ModelCheckpoint filepath \"", filepath,
               "\": precision too large in format spec '", spec, "'");
      f.precision = f.precision * 10 + (spec[pos++] - '0');
    }
  }
  if (pos + 1 < spec.size()) throw bad("invalid format specifier");
  if (pos < spec.size()) {
    f.type = spec[pos];
    if (std::string_view("deEfFgG%").find(f.type) == std::string_view::npos) {
      if (std::string_view("bcnosxX").find(f.type) != std::string_view::npos) {
        throw Error(ErrorCode::kUnimplemented,
                    "ModelCheckpoint filepath \"" + filepath + "\": format type '" + f.type +
                        "' is not supported; use d, e, E, f, F, g, G or %");
      }
      throw bad(std::string("unknown format code '") + f.type + "'");
    }
  }
  return f;
}

// Joins sign and digits and pads them to the spec's width.
std::string pad(const std::string& sign, const std::string& body, const FormatSpec& f) {
  const auto length = static_cast<int>(sign.size() + body.size());
  if (f.width <= length) return sign + body;
  const int n = f.width - length;
  auto fill = [&](int count) {
    std::string s;
    for (int i = 0; i < count; ++i) s += f.fill;
    return s;
  };
  switch (f.align == 0 ? '>' : f.align) {
    case '<':
      return sign + body + fill(n);
    case '=':
      return sign + fill(n) + body;
    case '^':
      return fill(n / 2) + sign + body + fill(n - n / 2);
    default:
      return fill(n) + sign + body;
  }
}

std::string sign_of(bool negative, const FormatSpec& f) {
  if (negative) return "-";
  if (f.sign == '+') return "+";
  if (f.sign == ' ') return " ";
  return "";
}

// Python's format(v, spec) for a float.
std::string format_float(double v, const FormatSpec& f, const std::string& filepath,
                         const std::string& name) {
  LT_CHECK(f.type != 'd', kInvalidArgument, "ModelCheckpoint filepath \"", filepath,
           "\": unknown format code 'd' for the float '", name, "'; use e.g. {", name, ":.4f}");
  const bool negative = !std::isnan(v) && std::signbit(v);
  const double a = std::fabs(v);
  const bool upper = f.type == 'E' || f.type == 'F' || f.type == 'G';
  const int precision = f.precision < 0 ? 6 : f.precision;
  std::string body;
  if (!std::isfinite(a)) {
    body = std::isnan(a) ? "nan" : "inf";
    if (f.type == '%') body += "%";
  } else if (f.type == 0) {
    body = f.precision < 0 ? py_repr(a) : py_general(a, f.precision, true);
  } else if (f.type == 'e' || f.type == 'E') {
    body = c_format('e', precision, a);
  } else if (f.type == 'f' || f.type == 'F') {
    body = c_format('f', precision, a);
  } else if (f.type == '%') {
    body = c_format('f', precision, a * 100.0) + "%";
  } else {  // g, G
    body = py_general(a, precision, false);
  }
  if (upper) {
    for (char& c : body) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  }
  return pad(sign_of(negative, f), body, f);
}

// Python's format(n, spec) for an int.
std::string format_int(int64_t n, const FormatSpec& f, const std::string& filepath,
                       const std::string& name) {
  if (f.type != 0 && f.type != 'd') return format_float(static_cast<double>(n), f, filepath, name);
  LT_CHECK(f.precision < 0, kInvalidArgument, "ModelCheckpoint filepath \"", filepath,
           "\": precision not allowed in integer format specifier of '", name, "'; use {", name,
           ":02d}");
  const uint64_t magnitude = n < 0 ? static_cast<uint64_t>(-(n + 1)) + 1 : static_cast<uint64_t>(n);
  return pad(sign_of(n < 0, f), std::to_string(magnitude), f);
}

std::string joined_keys(const Logs& logs) {
  std::string s;
  for (const auto& [key, value] : logs) s += (s.empty() ? "" : ",") + key;
  return s;
}

// ---------------------------------------------------------------------------------------------
// Output, as Keras' print_msg and warnings.warn.

void print_msg(const std::string& message) { std::cout << message << "\n" << std::flush; }

// Shows each distinct warning once, as Python's default warning filter does per call site.
class Warnings {
 public:
  void warn(const std::string& message) {
    if (shown_.insert(message).second) std::cerr << "UserWarning: " << message << std::endl;
  }

 private:
  std::set<std::string> shown_;
};

// ---------------------------------------------------------------------------------------------
// Keras 3's MonitorCallback: which way `monitor` should move, and whether a value improves on a
// reference.
class Monitor {
 public:
  Monitor(std::string owner, std::string monitor, std::string mode, double min_delta,
          Warnings& warnings)
      : owner_(std::move(owner)),
        monitor_(std::move(monitor)),
        mode_(std::move(mode)),
        min_delta_(std::fabs(min_delta)) {
    if (mode_ != "auto" && mode_ != "min" && mode_ != "max") {
      warnings.warn(owner_ + " mode '" + mode_ + "' is unknown, fallback to auto mode.");
      mode_ = "auto";
    }
  }

  const std::string& name() const { return monitor_; }

  // Fixes the direction (once). Throws Error(kInvalidArgument) when mode is "auto" and the
  // monitor is neither a loss nor a compiled metric.
  void resolve(const Trainer& trainer) {
    if (direction_ != 0) return;
    if (mode_ == "min") {
      direction_ = -1;
    } else if (mode_ == "max") {
      direction_ = 1;
    } else {
      const std::string metric = monitor_.starts_with("val_") ? monitor_.substr(4) : monitor_;
      if (metric == "loss") direction_ = -1;
      // Every metric leantrain compiles is an accuracy: Keras' direction "up".
      const Objective objective = resolve_objective(
          trainer.options().loss, trainer.options().metrics, trainer.model().output_shape());
      for (const MetricNode& m : objective.metrics) {
        if (m.name == metric) direction_ = 1;
      }
      LT_CHECK(direction_ != 0, kInvalidArgument, owner_, " callback received monitor=", monitor_,
               ", but leantrain isn't able to automatically determine whether that metric "
               "should be maximized or minimized. Pass mode=\"max\" in order to monitor based "
               "on the highest metric value, or pass mode=\"min\" in order to use the lowest "
               "value.");
    }
  }

  // Keras' _is_improvement: anything improves on no reference; NaN never improves.
  bool improves(double current, std::optional<double> reference) const {
    if (!reference) return true;
    return direction_ < 0 ? current + min_delta_ < *reference : current - min_delta_ > *reference;
  }

 private:
  std::string owner_, monitor_, mode_;
  double min_delta_;
  int direction_ = 0;  // -1 minimize, +1 maximize, 0 not resolved yet
};

// The learning rate as the optimizer holds it: a float32 variable in Keras, a float in the step.
double optimizer_learning_rate(const Trainer& trainer) {
  return static_cast<double>(static_cast<float>(trainer.learning_rate()));
}

// ---------------------------------------------------------------------------------------------

class ModelCheckpointCallback : public Callback {
 public:
  explicit ModelCheckpointCallback(const ModelCheckpointOptions& o)
      : options_(o),
        monitor_("ModelCheckpoint", o.monitor, o.mode, 0.0, warnings_),
        best_(o.initial_value_threshold) {
    LT_CHECK(!o.filepath.empty(), kInvalidArgument,
             "ModelCheckpoint needs a filepath, e.g. \"ckpt-{epoch:02d}.safetensors\"");
  }

  void on_train_begin(Trainer& trainer) override { monitor_.resolve(trainer); }

  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    monitor_.resolve(trainer);
    const std::string path = format_checkpoint_path(options_.filepath, epoch, logs);
    if (!should_save(epoch, logs, path)) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    LT_CHECK(!fs::is_directory(path, ec), kInvalidArgument,
             "Please specify a non-directory filepath for ModelCheckpoint. Filepath used is an "
             "existing directory: ",
             path);
    const fs::path parent = fs::path(path).parent_path();
    if (!parent.empty() && !fs::exists(parent, ec)) {
      fs::create_directories(parent, ec);
      LT_CHECK(!ec, kIo, "ModelCheckpoint: cannot create the directory ", parent.string(), " for ",
               path, ": ", ec.message());
    }
    if (options_.save) {
      options_.save(trainer, path);
    } else {
      trainer.save_weights(path);
    }
    if (options_.verbose > 0) {
      print_msg("\nEpoch " + std::to_string(epoch + 1) + ": finished saving model to " + path);
    }
  }

 private:
  // Keras' _should_save_model.
  bool should_save(int epoch, const Logs& logs, const std::string& path) {
    const std::string prefix = "\nEpoch " + std::to_string(epoch + 1) + ": ";
    if (!options_.save_best_only) {
      if (options_.verbose > 0) print_msg(prefix + "saving model to " + path);
      return true;
    }
    const auto it = logs.find(options_.monitor);
    if (it == logs.end()) {
      warnings_.warn("Can save best model only with " + options_.monitor + " available.");
      return true;
    }
    const double current = it->second;
    const std::string best_str = best_ ? c_format('f', 5, *best_) : "None";
    if (monitor_.improves(current, best_)) {
      if (options_.verbose > 0) {
        print_msg(prefix + options_.monitor + " improved from " + best_str + " to " +
                  c_format('f', 5, current) + ", saving model to " + path);
      }
      best_ = current;
      return true;
    }
    if (options_.verbose > 0) {
      print_msg(prefix + options_.monitor + " did not improve from " + best_str);
    }
    return false;
  }

  ModelCheckpointOptions options_;
  Warnings warnings_;
  Monitor monitor_;
  std::optional<double> best_;  // kept across fits, as Keras
};

class EarlyStoppingCallback : public Callback {
 public:
  explicit EarlyStoppingCallback(const EarlyStoppingOptions& o)
      : options_(o), monitor_("EarlyStopping", o.monitor, o.mode, o.min_delta, warnings_) {}

  void on_train_begin(Trainer& trainer) override {
    wait_ = 0;
    stopped_epoch_ = 0;
    best_.reset();
    best_weights_.reset();
    best_epoch_ = 0;
    monitor_.resolve(trainer);
  }

  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    monitor_.resolve(trainer);
    const auto it = logs.find(options_.monitor);
    if (it == logs.end()) {
      warnings_.warn("Early stopping conditioned on metric `" + options_.monitor +
                     "` which is not available. Available metrics are: " + joined_keys(logs));
      return;
    }
    if (epoch < options_.start_from_epoch) return;
    const double current = it->second;
    if (options_.restore_best_weights && !best_weights_) {
      // Until something improves, the first watched epoch's weights are the best.
      best_weights_ = trainer.get_weights();
      best_epoch_ = epoch;
    }
    ++wait_;
    if (monitor_.improves(current, best_)) {
      best_ = current;
      best_epoch_ = epoch;
      if (options_.restore_best_weights) best_weights_ = trainer.get_weights();
      // Only restart the wait if the value beats both the baseline and the previous best.
      if (!options_.baseline || monitor_.improves(current, options_.baseline)) wait_ = 0;
      return;
    }
    if (wait_ >= options_.patience && epoch > 0) {
      stopped_epoch_ = epoch;
      trainer.stop_training();
    }
  }

  void on_train_end(Trainer& trainer, const Logs& logs) override {
    (void)logs;
    if (stopped_epoch_ > 0 && options_.verbose > 0) {
      print_msg("Epoch " + std::to_string(stopped_epoch_ + 1) + ": early stopping");
    }
    if (options_.restore_best_weights && best_weights_) {
      if (options_.verbose > 0) {
        print_msg("Restoring model weights from the end of the best epoch: " +
                  std::to_string(best_epoch_ + 1) + ".");
      }
      trainer.set_weights(*best_weights_);
    }
  }

 private:
  EarlyStoppingOptions options_;
  Warnings warnings_;
  Monitor monitor_;
  int wait_ = 0;
  int stopped_epoch_ = 0;
  std::optional<double> best_;
  std::optional<std::vector<std::vector<float>>> best_weights_;
  int best_epoch_ = 0;
};

// Python's csv module, excel dialect, QUOTE_MINIMAL: a field holding the separator, a quote or a
// line break is quoted, its quotes doubled.
std::string csv_field(const std::string& s, char separator) {
  if (s.find_first_of(std::string{separator, '"', '\r', '\n'}) == std::string::npos) return s;
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"') out += '"';
    out += c;
  }
  return out + "\"";
}

class CSVLoggerCallback : public Callback {
 public:
  explicit CSVLoggerCallback(const CSVLoggerOptions& o) : options_(o) {
    LT_CHECK(options_.separator.size() == 1, kInvalidArgument,
             "CSVLogger separator must be one character (Python's csv requires it), got \"",
             options_.separator, "\"");
    LT_CHECK(!options_.filename.empty(), kInvalidArgument,
             "CSVLogger needs a filename, e.g. \"training.log\"");
  }
  ~CSVLoggerCallback() override { close(); }
  CSVLoggerCallback(const CSVLoggerCallback&) = delete;
  CSVLoggerCallback& operator=(const CSVLoggerCallback&) = delete;

  void on_train_begin(Trainer& trainer) override {
    (void)trainer;
    if (options_.append) {
      // Keras writes a header only into an empty file.
      if (std::FILE* f = std::fopen(options_.filename.c_str(), "rb")) {
        append_header_ = std::fgetc(f) == EOF;
        std::fclose(f);
      }
    }
    close();
    file_ = std::fopen(options_.filename.c_str(), options_.append ? "ab" : "wb");
    LT_CHECK(file_ != nullptr, kIo, options_.filename,
             ": CSVLogger cannot open the file: ", std::strerror(errno),
             " (its directory must exist)");
    keys_.reset();
  }

  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    (void)trainer;
    LT_CHECK(file_ != nullptr, kInvalidArgument, options_.filename,
             ": CSVLogger.on_epoch_end called before on_train_begin");
    const char sep = options_.separator[0];
    std::string text;
    if (!keys_) {
      keys_.emplace();
      bool val_keys_found = false;
      for (const auto& [key, value] : logs) {
        keys_->push_back(key);  // a std::map iterates in sorted order
        val_keys_found = val_keys_found || key.starts_with("val_");
      }
      if (!val_keys_found) {
        const size_t n = keys_->size();
        for (size_t i = 0; i < n; ++i) keys_->push_back("val_" + (*keys_)[i]);
      }
      if (append_header_) {
        text += "epoch";
        for (const std::string& key : *keys_) text += sep + csv_field(key, sep);
        text += "\r\n";
      }
    }
    text += std::to_string(epoch);
    for (const std::string& key : *keys_) {
      const auto it = logs.find(key);
      text += sep + csv_field(it == logs.end() ? "NA" : py_repr(it->second), sep);
    }
    text += "\r\n";
    const bool written =
        std::fwrite(text.data(), 1, text.size(), file_) == text.size() && std::fflush(file_) == 0;
    LT_CHECK(written, kIo, options_.filename, ": CSVLogger cannot write: ", std::strerror(errno));
  }

  void on_train_end(Trainer& trainer, const Logs& logs) override {
    (void)trainer;
    (void)logs;
    close();
  }

 private:
  void close() {
    if (file_ != nullptr) std::fclose(file_);
    file_ = nullptr;
  }

  CSVLoggerOptions options_;
  std::FILE* file_ = nullptr;
  std::optional<std::vector<std::string>> keys_;  // the columns after "epoch", fixed per fit
  bool append_header_ = true;
};

class TerminateOnNaNCallback : public Callback {
 public:
  explicit TerminateOnNaNCallback(bool raise_error) : raise_error_(raise_error) {}

  void on_train_batch_end(Trainer& trainer, int64_t batch, const Logs& logs) override {
    const auto it = logs.find("loss");
    if (it == logs.end() || std::isfinite(it->second)) return;
    LT_CHECK(!raise_error_, kInvalidArgument, "NaN or Inf loss encountered at batch ", batch,
             ". Loss value: ", py_repr(it->second),
             ". Terminating training immediately. A lower learning rate often helps.");
    print_msg("Batch " + std::to_string(batch) + ": Invalid loss, terminating training");
    trainer.stop_training();
  }

 private:
  bool raise_error_;
};

void check_settable_learning_rate(const Trainer& trainer, const char* owner) {
  LT_CHECK(!trainer.options().optimizer.schedule, kInvalidArgument, owner,
           " cannot set the learning rate of an optimizer created with a learning-rate "
           "schedule; use either the schedule or the callback");
}

class ReduceLROnPlateauCallback : public Callback {
 public:
  explicit ReduceLROnPlateauCallback(const ReduceLROnPlateauOptions& o)
      : options_(o), monitor_("ReduceLROnPlateau", o.monitor, o.mode, o.min_delta, warnings_) {
    LT_CHECK(
        o.factor < 1.0, kInvalidArgument,
        "ReduceLROnPlateau does not support a factor >= 1.0. Received factor=", py_repr(o.factor));
  }

  void on_train_begin(Trainer& trainer) override {
    best_.reset();
    cooldown_counter_ = 0;
    wait_ = 0;
    check_settable_learning_rate(trainer, "ReduceLROnPlateau");
    monitor_.resolve(trainer);
  }

  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    monitor_.resolve(trainer);
    logs["learning_rate"] = optimizer_learning_rate(trainer);
    const auto it = logs.find(options_.monitor);
    if (it == logs.end()) {
      warnings_.warn("Learning rate reduction is conditioned on metric `" + options_.monitor +
                     "` which is not available. Available metrics are: " + joined_keys(logs) + ".");
      return;
    }
    const double current = it->second;
    if (cooldown_counter_ > 0) {
      --cooldown_counter_;
      wait_ = 0;
    }
    if (monitor_.improves(current, best_)) {
      best_ = current;
      wait_ = 0;
    } else if (cooldown_counter_ <= 0) {
      ++wait_;
      if (wait_ >= options_.patience) {
        const double old_lr = optimizer_learning_rate(trainer);
        if (old_lr > static_cast<double>(static_cast<float>(options_.min_lr))) {
          const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
          trainer.set_learning_rate(new_lr);
          if (options_.verbose > 0) {
            print_msg("\nEpoch " + std::to_string(epoch + 1) +
                      ": ReduceLROnPlateau reducing learning rate to " + py_repr(new_lr) + ".");
          }
          cooldown_counter_ = options_.cooldown;
          wait_ = 0;
        }
      }
    }
  }

 private:
  ReduceLROnPlateauOptions options_;
  Warnings warnings_;
  Monitor monitor_;
  std::optional<double> best_;
  int cooldown_counter_ = 0;
  int wait_ = 0;
};

class LearningRateSchedulerCallback : public Callback {
 public:
  LearningRateSchedulerCallback(std::function<double(int, double)> schedule, int verbose)
      : schedule_(std::move(schedule)), verbose_(verbose) {
    LT_CHECK(schedule_ != nullptr, kInvalidArgument,
             "LearningRateScheduler needs a schedule function (epoch, lr) -> lr");
  }

  void on_train_begin(Trainer& trainer) override {
    check_settable_learning_rate(trainer, "LearningRateScheduler");
  }

  void on_epoch_begin(Trainer& trainer, int epoch) override {
    const double lr = schedule_(epoch, optimizer_learning_rate(trainer));
    trainer.set_learning_rate(lr);
    if (verbose_ > 0) {
      print_msg("\nEpoch " + std::to_string(epoch + 1) +
                ": LearningRateScheduler setting learning rate to " + py_repr(lr) + ".");
    }
  }

  void on_epoch_end(Trainer& trainer, int epoch, Logs& logs) override {
    (void)epoch;
    logs["learning_rate"] = optimizer_learning_rate(trainer);
  }

 private:
  std::function<double(int, double)> schedule_;
  int verbose_;
};

}  // namespace

std::string format_checkpoint_path(const std::string& filepath, int epoch, const Logs& logs) {
  auto malformed = [&](const std::string& why) {
    return Error(ErrorCode::kInvalidArgument, "ModelCheckpoint filepath \"" + filepath + "\": " +
                                                  why + " (write a literal brace as {{ or }})");
  };
  std::string out;
  size_t i = 0;
  while (i < filepath.size()) {
    const char c = filepath[i];
    if (c == '}') {
      if (i + 1 < filepath.size() && filepath[i + 1] == '}') {
        out += '}';
        i += 2;
        continue;
      }
      throw malformed("single '}' encountered");
    }
    if (c != '{') {
      out += c;
      ++i;
      continue;
    }
    if (i + 1 < filepath.size() && filepath[i + 1] == '{') {
      out += '{';
      i += 2;
      continue;
    }
    const size_t end = filepath.find_first_of("{}", i + 1);
    if (end == std::string::npos) throw malformed("expected '}' before end of string");
    if (filepath[end] == '{') {
      throw Error(ErrorCode::kUnimplemented, "ModelCheckpoint filepath \"" + filepath +
                                                 "\": nested replacement fields are not "
                                                 "supported");
    }
    const std::string field = filepath.substr(i + 1, end - i - 1);
    i = end + 1;
    const size_t colon = field.find(':');
    const std::string name = field.substr(0, std::min(colon, field.find('!')));
    if (name.size() < field.size() && field[name.size()] == '!') {
      throw Error(ErrorCode::kUnimplemented, "ModelCheckpoint filepath \"" + filepath +
                                                 "\": conversions such as !r or !s are not "
                                                 "supported; use {" +
                                                 name + "}");
    }
    if (name.empty() || name.find_first_not_of("0123456789") == std::string::npos) {
      throw malformed("positional field {" + field +
                      "}: only named fields work, e.g. {epoch:02d} or {val_loss:.2f}");
    }
    if (name.find_first_of(".[") != std::string::npos) {
      throw Error(ErrorCode::kUnimplemented,
                  "ModelCheckpoint filepath \"" + filepath + "\": field '" + name +
                      "': attribute and index fields are not supported; name a log key");
    }
    const FormatSpec spec = parse_spec(
        colon == std::string::npos ? std::string_view() : std::string_view(field).substr(colon + 1),
        filepath);
    if (name == "epoch") {
      out += format_int(epoch + 1, spec, filepath, name);
      continue;
    }
    const auto it = logs.find(name);
    LT_CHECK(it != logs.end(), kInvalidArgument, "Failed to format this callback filepath: \"",
             filepath, "\". Reason: no value '", name, "' in the logs (available: epoch",
             logs.empty() ? "" : ",", joined_keys(logs), "); val_ keys need validation_data");
    out += format_float(it->second, spec, filepath, name);
  }
  return out;
}

CallbackPtr ModelCheckpoint(const ModelCheckpointOptions& options) {
  return std::make_shared<ModelCheckpointCallback>(options);
}

CallbackPtr EarlyStopping(const EarlyStoppingOptions& options) {
  return std::make_shared<EarlyStoppingCallback>(options);
}

CallbackPtr CSVLogger(const CSVLoggerOptions& options) {
  return std::make_shared<CSVLoggerCallback>(options);
}

CallbackPtr TerminateOnNaN(bool raise_error) {
  return std::make_shared<TerminateOnNaNCallback>(raise_error);
}

CallbackPtr ReduceLROnPlateau(const ReduceLROnPlateauOptions& options) {
  return std::make_shared<ReduceLROnPlateauCallback>(options);
}

CallbackPtr LearningRateScheduler(std::function<double(int epoch, double lr)> schedule,
                                  int verbose) {
  return std::make_shared<LearningRateSchedulerCallback>(std::move(schedule), verbose);
}

}  // namespace leantrain::train
