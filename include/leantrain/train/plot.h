// Line charts as self-contained SVG for reports: loss and accuracy per epoch, memory and
// throughput against batch size, live bytes across a training step with a marker at the peak.
// The SVG uses no scripts, no external fonts or styles, and opens in any browser.
//
// Axes:
//   - ticks are round numbers, 1, 2 or 5 x 10^k apart, and the axis runs from the first tick at
//     or below the data to the first at or above it (with y_from_zero, 0 is always in range);
//   - labels are compact: each takes the largest suffix not above it, with the digits the step
//     needs: 0.05, 500, 1k, 1.5k, 20M, 3G (k = 10^3, M = 10^6, G = 10^9, T = 10^12); ticks
//     all below 10^-3 and finer than 10^-4 read 1.5e-5;
//   - an axis whose label contains "bytes" (any case) counts in binary units as leantrain's
//     memory reports do (B, KB = 1024 B, MB, GB, TB), with round ticks in that unit: 0, 64 MB,
//     128 MB ...;
//   - an x axis whose values are all integers (epochs, batch sizes) never gets a step below 1.
// Data: NaN and infinite values are skipped and break the line; a series with one point, an
// empty series, a chart with no data and a constant series all draw (a flat line, a dot, an
// empty frame) without dividing by zero. Values beyond +-1e300 are clamped to it.
// Bar charts: a chart with categories draws each series as one bar per category (grouped side
// by side, a legend entry per series), the categories' names under the x axis.
// Every function here is pure and thread-safe.
#pragma once

#include <limits>
#include <span>
#include <string>
#include <vector>

namespace leantrain::train {

// One line: y[i] at x[i]; x and y have the same length. In a bar chart (Chart::categories),
// y[i] is the bar of category i and x is ignored (may be empty).
struct Series {
  std::string name{};
  std::vector<double> x{}, y{};
  bool fill = false;    // shade the area between the line and y = 0 (or the axis' nearer end)
  bool dashed = false;  // draw the line dashed
};

// A vertical line at `x` with a label, e.g. the peak of a memory timeline. When `y` is finite a
// dot marks the point (x, y) too.
struct Marker {
  double x = 0;
  std::string label{};
  double y = std::numeric_limits<double>::quiet_NaN();
};

// A shaded band from x_low to x_high across the plot's height, behind the data, e.g. a phase of
// a training step; clipped to the plot (regions do not widen the x axis). Bands with the same
// label share one legend entry.
struct Region {
  double x_low = 0, x_high = 0;
  std::string label{};
  int colour = 0;  // index into a palette of light tints (wraps around)
};

struct Chart {
  std::string title{}, x_label{}, y_label{};
  std::vector<Series> series{};
  std::vector<Marker> markers{};
  bool y_from_zero = false;  // include 0 in the y range (bytes, throughput)
  std::vector<Region> regions{};
  // Non-empty: a bar chart with one group of bars per category (y_from_zero is implied).
  std::vector<std::string> categories{};
  double width = 480;  // of this chart's panel in pixels, at least 240
};

// How an axis counts: plain numbers with k/M/G/T suffixes, or bytes in binary units.
enum class AxisUnit { kNumber, kBytes };

// An axis range with round ticks. ticks run from `low` to `high` inclusive, `step` apart;
// labels[i] is the text of ticks[i].
struct Axis {
  double low = 0, high = 1, step = 1;
  std::vector<double> ticks{};
  std::vector<std::string> labels{};
};

// Returns the axis for data in [min, max] with about `intervals` (>= 1) steps between ticks
// (see the file comment). Non-finite bounds, min > max, or min == max are handled: no data
// gives [0, 1], a constant gives a small range around it. With integer_steps the step is at
// least 1. For kBytes the ticks are round in the unit their labels use.
Axis make_axis(double min, double max, AxisUnit unit = AxisUnit::kNumber, int intervals = 5,
               bool integer_steps = false);

// Returns an SVG document showing `charts` side by side, each with its title, axis labels,
// gridlines, a legend of its series (distinct colours) and regions, its regions and its
// markers. Text is XML-escaped; bytes that are not valid UTF-8 become U+FFFD. Throws
// Error(kInvalidArgument) naming the chart and series when a series' x and y differ in length
// (in a bar chart: when y does not have one value per category).
std::string to_svg(std::span<const Chart> charts);
std::string to_svg(const Chart& chart);

// Writes to_svg(charts) to `path` atomically (core/file.h). Throws as to_svg does, and
// Error(kIo) naming the path when it cannot be written.
void write_svg(const std::string& path, std::span<const Chart> charts);

}  // namespace leantrain::train
