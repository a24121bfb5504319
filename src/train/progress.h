// A Keras-style progress line: ` 312/469 ━━━━━━━━━━━━━━━━━━━━ 3s 9ms/step - accuracy: 0.8123 -
// loss: 0.5241`.
#pragma once

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

namespace leantrain::train {

// Formats values as Keras does: "%.4f" when |v| > 1e-3, else "%.4e".
std::string format_metric(double value);
// Keras' per-step time: "1s/step", "12ms/step" or "850us/step".
std::string format_per_step(double seconds);
// Keras' ETA: "7s", "1:05", "1:02:03".
std::string format_eta(double seconds);

// Draws one progress line, redrawn in place on a terminal (at most every 50 ms) and printed
// once at the end otherwise. Not thread-safe.
class ProgressBar {
 public:
  // Keras' verbose=1 (kBar: ` 469/469 ━━━━━━━━━━━━━━━━━━━━ 3s 9ms/step - ...`) or verbose=2
  // (kEpochLine: `469/469 - 3s - 9ms/step - ...`, printed at the end only).
  enum class Style { kBar, kEpochLine };
  // target <= 0: unknown length ("12/Unknown", no bar).
  ProgressBar(int64_t target, std::ostream& out, bool dynamic, Style style = Style::kBar);
  // `metrics` are printed sorted by name (Keras sorts them); `extra` is appended as is.
  void update(int64_t current, std::vector<std::pair<std::string, double>> metrics,
              const std::string& extra, bool final);

 private:
  using Clock = std::chrono::steady_clock;
  int64_t target_;
  std::ostream& out_;
  bool dynamic_;
  Style style_;
  Clock::time_point start_, after_first_, last_draw_;
  size_t last_width_ = 0;
};

}  // namespace leantrain::train
