#include "train/progress.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace leantrain::train {

std::string format_metric(double value) {
  if (std::isnan(value)) return "nan";  // as Python prints it, whatever the sign bit
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  std::snprintf(buf, sizeof buf, std::fabs(value) > 1e-3 ? "%.4f" : "%.4e", value);
  return buf;
}

std::string format_per_step(double seconds) {
  char buf[64];
  if (seconds >= 1.0 || seconds == 0.0) {
    std::snprintf(buf, sizeof buf, "%.0fs/step", seconds);
  } else if (seconds >= 1e-3) {
    std::snprintf(buf, sizeof buf, "%.0fms/step", seconds * 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0fus/step", seconds * 1e6);
  }
  return buf;
}

std::string format_eta(double seconds) {
  const auto s = static_cast<int64_t>(seconds);
  char buf[64];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", static_cast<long long>(s / 3600),
                  static_cast<long long>(s % 3600 / 60), static_cast<long long>(s % 60));
  } else if (s >= 60) {
    std::snprintf(buf, sizeof buf, "%lld:%02lld", static_cast<long long>(s / 60),
                  static_cast<long long>(s % 60));
  } else {
    std::snprintf(buf, sizeof buf, "%llds", static_cast<long long>(s));
  }
  return buf;
}

ProgressBar::ProgressBar(int64_t target, std::ostream& out, bool dynamic, Style style)
    : target_(target),
      out_(out),
      dynamic_(dynamic && style == Style::kBar),
      style_(style),
      start_(Clock::now()) {
  after_first_ = start_;
  last_draw_ = start_;
}

void ProgressBar::update(int64_t current, std::vector<std::pair<std::string, double>> metrics,
                         const std::string& extra, bool final) {
  const auto now = Clock::now();
  if (current == 1) after_first_ = now;
  if (!final && (!dynamic_ || now - last_draw_ < std::chrono::milliseconds(50))) return;
  last_draw_ = now;

  char counter[64];
  std::string bar;
  if (target_ > 0) {
    const int digits = static_cast<int>(std::log10(static_cast<double>(target_))) + 1;
    std::snprintf(counter, sizeof counter, "%*lld/%lld", digits, static_cast<long long>(current),
                  static_cast<long long>(target_));
    const int64_t filled = 20 * current / target_;
    if (dynamic_) bar += "\33[32m";
    for (int64_t i = 0; i < 20; ++i) {
      if (i == filled && dynamic_) bar += "\33[37m";
      bar += "━";
    }
    if (dynamic_) bar += "\33[0m";
  } else {  // unknown length: Keras' "     12/Unknown" without a bar
    std::snprintf(counter, sizeof counter, "%7lld/Unknown", static_cast<long long>(current));
  }

  const double elapsed = std::chrono::duration<double>(now - start_).count();
  const double since_first = std::chrono::duration<double>(now - after_first_).count();
  const double per_step = current > 1
                              ? since_first / static_cast<double>(current - 1)
                              : elapsed / static_cast<double>(std::max<int64_t>(current, 1));
  std::string time_field;
  if (final) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0fs", elapsed);
    time_field = buf;
  } else if (target_ > 0) {
    time_field = format_eta(per_step * static_cast<double>(target_ - current));
  } else {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.0fs", elapsed);
    time_field = buf;
  }

  std::sort(metrics.begin(), metrics.end());
  std::string line =
      style_ == Style::kEpochLine
          ? std::string(counter) + " - " + time_field + " - " + format_per_step(per_step)
          : std::string(dynamic_ ? "\33[1m" : "") + counter + (dynamic_ ? "\33[0m" : "") +
                (bar.empty() ? "" : " " + bar) + " " + time_field + " " + format_per_step(per_step);
  for (const auto& [name, value] : metrics) line += " - " + name + ": " + format_metric(value);
  line += extra;

  if (dynamic_) {
    out_ << '\r' << line;
    if (line.size() < last_width_) out_ << std::string(last_width_ - line.size(), ' ');
    last_width_ = line.size();
  } else {
    out_ << line;
  }
  if (final) out_ << '\n';
  out_.flush();
}

}  // namespace leantrain::train
