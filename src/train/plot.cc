#include "leantrain/train/plot.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <limits>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"

namespace leantrain::train {
namespace {

constexpr double kClamp = 1e300;

double clamp_value(double v) { return std::clamp(v, -kClamp, kClamp); }

// `value` with `decimals` digits after the point, trailing zeros and a bare point removed, and
// never "-0". Locale-independent.
std::string trimmed(double value, int decimals) {
  char buf[400];
  const auto r = std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::fixed, decimals);
  std::string s(buf, r.ptr);
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

// Digits after the point needed to tell ticks `step` apart (step is 1, 2 or 5 x 10^k).
int decimals_for(double step) {
  return std::clamp(static_cast<int>(-std::floor(std::log10(step) + 1e-9)), 0, 20);
}

// "1.5e-5": for ticks too small for fixed notation to stay short.
std::string scientific(double value, double step) {
  if (value == 0) return "0";
  const int precision = std::clamp(static_cast<int>(std::floor(std::log10(std::fabs(value))) -
                                                    std::floor(std::log10(step) + 1e-9)),
                                   0, 15);
  char buf[64];
  const auto r =
      std::to_chars(buf, buf + sizeof(buf), value, std::chars_format::scientific, precision);
  std::string s(buf, r.ptr);
  const size_t e = s.find('e');
  std::string mantissa = s.substr(0, e), exponent = s.substr(e + 1);
  if (mantissa.find('.') != std::string::npos) {
    while (mantissa.back() == '0') mantissa.pop_back();
    if (mantissa.back() == '.') mantissa.pop_back();
  }
  const bool negative = exponent[0] == '-';
  exponent = exponent.substr(1);
  exponent.erase(0, std::min(exponent.find_first_not_of('0'), exponent.size() - 1));
  return mantissa + "e" + (negative ? "-" : "") + exponent;
}

struct Scale {
  double divisor;
  const char* suffix;
};

// The largest binary unit not above `magnitude`.
Scale byte_scale(double magnitude) {
  static constexpr Scale kUnits[] = {{1.0, "B"},
                                     {1024.0, "KB"},
                                     {1024.0 * 1024, "MB"},
                                     {1024.0 * 1024 * 1024, "GB"},
                                     {1024.0 * 1024 * 1024 * 1024, "TB"}};
  Scale s = kUnits[0];
  for (const Scale& u : kUnits) {
    if (magnitude >= u.divisor) s = u;
  }
  return s;
}

// The largest decimal suffix not above `magnitude`.
Scale number_scale(double magnitude) {
  static constexpr Scale kUnits[] = {{1.0, ""}, {1e3, "k"}, {1e6, "M"}, {1e9, "G"}, {1e12, "T"}};
  Scale s = kUnits[0];
  for (const Scale& u : kUnits) {
    if (magnitude >= u.divisor) s = u;
  }
  return s;
}

// --- SVG text -----------------------------------------------------------------------------

// Appends `text` XML-escaped, with invalid UTF-8, characters XML forbids and control
// characters replaced (by U+FFFD and a space).
void append_escaped(std::string& out, std::string_view text) {
  static constexpr std::string_view kReplacement = "\xEF\xBF\xBD";
  size_t i = 0;
  while (i < text.size()) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    if (c < 0x80) {
      switch (c) {
        case '&':
          out += "&amp;";
          break;
        case '<':
          out += "&lt;";
          break;
        case '>':
          out += "&gt;";
          break;
        case '"':
          out += "&quot;";
          break;
        case '\'':
          out += "&apos;";
          break;
        default:
          out += c < 0x20 ? ' ' : static_cast<char>(c);
      }
      ++i;
      continue;
    }
    // A multi-byte sequence: its length from the lead byte, then continuation bytes, then
    // no overlong forms, no surrogates, nothing beyond U+10FFFF, and not U+FFFE/U+FFFF.
    const int length = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0;
    bool valid = length > 0 && i + static_cast<size_t>(length) <= text.size();
    uint32_t cp = valid ? (c & (0x7Fu >> length)) : 0;
    for (int k = 1; valid && k < length; ++k) {
      const unsigned char cc = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      valid = (cc & 0xC0) == 0x80;
      cp = (cp << 6) | (cc & 0x3Fu);
    }
    static constexpr uint32_t kMinimum[] = {0, 0, 0x80, 0x800, 0x10000};
    valid = valid && cp >= kMinimum[length] && cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF) &&
            cp != 0xFFFE && cp != 0xFFFF;
    if (valid) {
      out.append(text.substr(i, static_cast<size_t>(length)));
      i += static_cast<size_t>(length);
    } else {
      out += kReplacement;
      ++i;
    }
  }
}

std::string escaped(std::string_view text) {
  std::string out;
  append_escaped(out, text);
  return out;
}

// Approximate width of `text` at 12px sans-serif, to lay out legends and margins.
double text_width(std::string_view text) {
  double chars = 0;
  for (char c : text) chars += (static_cast<unsigned char>(c) & 0xC0) != 0x80;  // code points
  return chars * 6.8;
}

// A coordinate with two decimals at most.
std::string num(double v) { return trimmed(v, 2); }

// Tableau 10: distinct for the common kinds of colour blindness and in grey print.
constexpr const char* kPalette[] = {"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f",
                                    "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
constexpr size_t kPaletteSize = sizeof(kPalette) / sizeof(kPalette[0]);

// The stroke of series `i`: a colour, and beyond the palette (or when `dashed`) a dash pattern
// as well.
std::string stroke_attributes(size_t i, bool dashed = false) {
  std::string s = std::string("stroke=\"") + kPalette[i % kPaletteSize] + "\"";
  if (i >= kPaletteSize) {
    s += " stroke-dasharray=\"" + std::to_string(2 + 3 * (i / kPaletteSize)) + " 3\"";
  } else if (dashed) {
    s += " stroke-dasharray=\"6 4\"";
  }
  return s;
}

// --- layout -------------------------------------------------------------------------------

constexpr double kMinPanelWidth = 240;
constexpr double kTitleBaseline = 22;
constexpr double kPlotTop = 36;
constexpr double kPlotHeight = 230;
constexpr double kPlotBottom = kPlotTop + kPlotHeight;
constexpr double kRightMargin = 18;
constexpr double kLegendTop = kPlotBottom + 56;
constexpr double kCenterText = 4;  // baseline offset that centres 12px text on a line
constexpr double kLegendRow = 18;

// Light tints for regions, in the order of kPalette's hues.
constexpr const char* kTints[] = {"#dbe6f1", "#fde3cc", "#f8d6d6", "#deefed", "#dcefd9",
                                  "#faf2d0", "#ece0ea", "#ffe5e8", "#ebe0d9", "#eeebe9"};
constexpr size_t kTintsSize = sizeof(kTints) / sizeof(kTints[0]);

const char* tint(int colour) {
  const size_t n = static_cast<size_t>(colour < 0 ? -static_cast<int64_t>(colour) : colour);
  return kTints[n % kTintsSize];
}

double panel_width(const Chart& chart) {
  return std::isfinite(chart.width) ? std::max(chart.width, kMinPanelWidth) : kMinPanelWidth;
}

// A legend entry: a series (a line, or a swatch when filled or in a bar chart) or a region (a
// swatch of its tint).
struct LegendItem {
  size_t index;  // into chart.series or chart.regions
  bool region;
  double x;
  int row;
};

// Places legend entries left to right, wrapping within the panel: the named series, then each
// region label once.
std::vector<LegendItem> layout_legend(const Chart& chart, double left) {
  std::vector<LegendItem> items;
  double x = left;
  int row = 0;
  const auto place = [&](size_t index, bool region, const std::string& name) {
    const double width = 30 + text_width(name) + 16;
    if (x > left && x + width > panel_width(chart) - kRightMargin) {
      x = left;
      ++row;
    }
    items.push_back({index, region, x, row});
    x += width;
  };
  for (size_t i = 0; i < chart.series.size(); ++i) {
    if (!chart.series[i].name.empty()) place(i, false, chart.series[i].name);
  }
  for (size_t i = 0; i < chart.regions.size(); ++i) {
    const std::string& label = chart.regions[i].label;
    bool seen = label.empty();
    for (size_t j = 0; j < i && !seen; ++j) seen = chart.regions[j].label == label;
    if (!seen) place(i, true, label);
  }
  return items;
}

int legend_rows(const std::vector<LegendItem>& items) {
  return items.empty() ? 0 : items.back().row + 1;
}

bool is_integer(double v) { return std::fabs(v) < 1e15 && v == std::floor(v); }

AxisUnit unit_for(const std::string& label) {
  std::string lower = label;
  for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return lower.find("bytes") != std::string::npos ? AxisUnit::kBytes : AxisUnit::kNumber;
}

// The data ranges of a chart and whether any point is drawable.
struct Extent {
  double x_min = std::numeric_limits<double>::infinity(), x_max = -x_min;
  double y_min = x_min, y_max = -x_min;
  bool x_integers = true;
  bool any = false;
};

Extent extent_of(const Chart& chart) {
  Extent e;
  if (!chart.categories.empty()) {  // bars: categories at 0, 1, ...; y from 0
    e.x_min = -0.5;
    e.x_max = static_cast<double>(chart.categories.size()) - 0.5;
    e.x_integers = false;
    e.y_min = e.y_max = 0;
    for (const Series& s : chart.series) {
      for (double y : s.y) {
        if (!std::isfinite(y)) continue;
        e.y_min = std::min(e.y_min, clamp_value(y));
        e.y_max = std::max(e.y_max, clamp_value(y));
        e.any = true;
      }
    }
    return e;
  }
  for (const Series& s : chart.series) {
    for (size_t i = 0; i < s.x.size(); ++i) {
      if (!std::isfinite(s.x[i]) || !std::isfinite(s.y[i])) continue;
      const double x = clamp_value(s.x[i]), y = clamp_value(s.y[i]);
      e.x_min = std::min(e.x_min, x);
      e.x_max = std::max(e.x_max, x);
      e.y_min = std::min(e.y_min, y);
      e.y_max = std::max(e.y_max, y);
      e.x_integers = e.x_integers && is_integer(x);
      e.any = true;
    }
  }
  for (const Marker& m : chart.markers) {
    if (!std::isfinite(m.x)) continue;
    const double x = clamp_value(m.x);
    e.x_min = std::min(e.x_min, x);
    e.x_max = std::max(e.x_max, x);
    e.x_integers = e.x_integers && is_integer(x);
    if (std::isfinite(m.y)) {
      e.y_min = std::min(e.y_min, clamp_value(m.y));
      e.y_max = std::max(e.y_max, clamp_value(m.y));
    }
  }
  if (chart.y_from_zero && e.any) {
    e.y_min = std::min(e.y_min, 0.0);
    e.y_max = std::max(e.y_max, 0.0);
  }
  return e;
}

// Where everything of one chart goes.
struct PanelLayout {
  Extent extent;
  Axis x_axis, y_axis;
  double left = 0;  // of the plot area; the y tick labels fit to its left
  std::vector<LegendItem> legend;
};

PanelLayout layout_panel(const Chart& chart) {
  PanelLayout p;
  const Extent& e = p.extent = extent_of(chart);
  p.x_axis = make_axis(e.x_min, e.x_max, unit_for(chart.x_label), 6, e.x_integers);
  if (!chart.categories.empty()) {  // one labelled tick per category
    p.x_axis.low = e.x_min;
    p.x_axis.high = e.x_max;
    p.x_axis.step = 1;
    p.x_axis.ticks.clear();
    for (size_t i = 0; i < chart.categories.size(); ++i) {
      p.x_axis.ticks.push_back(static_cast<double>(i));
    }
    p.x_axis.labels = chart.categories;
  }
  p.y_axis = make_axis(e.any ? e.y_min : 0, e.any ? e.y_max : 1, unit_for(chart.y_label), 5);
  double widest = 0;
  for (const std::string& l : p.y_axis.labels) widest = std::max(widest, text_width(l));
  p.left = 26 + widest + 8;
  p.legend = layout_legend(chart, p.left);
  return p;
}

// The plot area of one chart: where it lies in the panel and where data lands in it.
struct PlotArea {
  const Axis& x_axis;
  const Axis& y_axis;
  double left;   // of the plot area; the y tick labels fit to its left
  double right;  // of the plot area
  double width;  // right - left
  double panel;  // the panel's width
  double px(double x) const {
    return left + (clamp_value(x) - x_axis.low) / (x_axis.high - x_axis.low) * width;
  }
  double py(double y) const {
    return kPlotBottom - (clamp_value(y) - y_axis.low) / (y_axis.high - y_axis.low) * kPlotHeight;
  }
};

// Regions, behind everything else, clipped to the plot area.
void draw_regions(std::string& svg, const Chart& chart, const PlotArea& a) {
  for (const Region& r : chart.regions) {
    if (!std::isfinite(r.x_low) || !std::isfinite(r.x_high)) continue;
    const double x0 = std::clamp(a.px(std::min(r.x_low, r.x_high)), a.left, a.right);
    const double x1 = std::clamp(a.px(std::max(r.x_low, r.x_high)), a.left, a.right);
    svg += "<rect x=\"" + num(x0) + "\" y=\"" + num(kPlotTop) + "\" width=\"" + num(x1 - x0) +
           "\" height=\"" + num(kPlotHeight) + "\" fill=\"" + tint(r.colour) + "\"/>\n";
  }
}

// The title, gridlines and ticks, the frame, the axis labels, and "no data" for a chart without.
void draw_frame(std::string& svg, const Chart& chart, const PlotArea& a, bool any_data) {
  svg += "<text x=\"" + num(a.panel / 2) + "\" y=\"" + num(kTitleBaseline) +
         "\" text-anchor=\"middle\" font-size=\"14\" font-weight=\"bold\">" + escaped(chart.title) +
         "</text>\n";
  // Gridlines and y ticks.
  for (size_t i = 0; i < a.y_axis.ticks.size(); ++i) {
    const double y = a.py(a.y_axis.ticks[i]);
    svg += "<line x1=\"" + num(a.left) + "\" y1=\"" + num(y) + "\" x2=\"" + num(a.right) +
           "\" y2=\"" + num(y) + "\" stroke=\"#e0e0e0\"/>\n";
    // Baselines sit kCenterText below the line: dominant-baseline is not honoured everywhere.
    svg += "<text x=\"" + num(a.left - 6) + "\" y=\"" + num(y + kCenterText) +
           "\" text-anchor=\"end\">" + escaped(a.y_axis.labels[i]) + "</text>\n";
  }
  for (size_t i = 0; i < a.x_axis.ticks.size(); ++i) {
    const std::string x = num(a.px(a.x_axis.ticks[i]));
    svg += "<line x1=\"" + x + "\" y1=\"" + num(kPlotBottom) + "\" x2=\"" + x + "\" y2=\"" +
           num(kPlotBottom + 5) + "\" stroke=\"#333\"/>\n";
    svg += "<text x=\"" + x + "\" y=\"" + num(kPlotBottom + 18) + "\" text-anchor=\"middle\">" +
           escaped(a.x_axis.labels[i]) + "</text>\n";
  }
  svg += "<rect x=\"" + num(a.left) + "\" y=\"" + num(kPlotTop) + "\" width=\"" + num(a.width) +
         "\" height=\"" + num(kPlotHeight) + "\" fill=\"none\" stroke=\"#333\"/>\n";
  // Axis labels.
  svg += "<text x=\"" + num(a.left + a.width / 2) + "\" y=\"" + num(kPlotBottom + 38) +
         "\" text-anchor=\"middle\">" + escaped(chart.x_label) + "</text>\n";
  const std::string ylx = num(14), yly = num(kPlotTop + kPlotHeight / 2);
  svg += "<text x=\"" + ylx + "\" y=\"" + yly +
         "\" text-anchor=\"middle\" transform=\"rotate(-90 " + ylx + " " + yly + ")\">" +
         escaped(chart.y_label) + "</text>\n";
  if (!any_data) {
    svg += "<text x=\"" + num(a.left + a.width / 2) + "\" y=\"" + yly +
           "\" text-anchor=\"middle\" fill=\"#888\">no data</text>\n";
  }
}

// Bars: per category, the series' bars side by side in 80% of the category's width.
void draw_bars(std::string& svg, const Chart& chart, const PlotArea& a) {
  const double slot = a.width / static_cast<double>(chart.categories.size());
  const double bar = slot * 0.8 / static_cast<double>(std::max<size_t>(chart.series.size(), 1));
  const double base = a.py(std::clamp(0.0, a.y_axis.low, a.y_axis.high));
  for (size_t s = 0; s < chart.series.size(); ++s) {
    const Series& series = chart.series[s];
    for (size_t i = 0; i < series.y.size(); ++i) {
      if (!std::isfinite(series.y[i])) continue;
      const double x = a.px(static_cast<double>(i)) - slot * 0.4 + bar * static_cast<double>(s);
      const double y = a.py(series.y[i]);
      svg += "<rect x=\"" + num(x) + "\" y=\"" + num(std::min(y, base)) + "\" width=\"" + num(bar) +
             "\" height=\"" + num(std::fabs(base - y)) + "\" fill=\"" + kPalette[s % kPaletteSize] +
             "\"/>\n";
    }
  }
}

// Filled series: the area between each run of finite points and y = 0 (or the axis' nearer
// end), translucent, under every line.
void draw_fills(std::string& svg, const Chart& chart, const PlotArea& a) {
  const double fill_base = a.py(std::clamp(0.0, a.y_axis.low, a.y_axis.high));
  for (size_t s = 0; s < chart.series.size() && chart.categories.empty(); ++s) {
    const Series& series = chart.series[s];
    if (!series.fill) continue;
    std::vector<std::pair<double, double>> run;
    const auto flush = [&] {
      if (run.size() >= 2) {
        svg += "<polygon fill=\"" + std::string(kPalette[s % kPaletteSize]) +
               "\" fill-opacity=\"0.35\" stroke=\"none\" points=\"" + num(run.front().first) + "," +
               num(fill_base);
        for (const auto& [x, y] : run) svg += " " + num(x) + "," + num(y);
        svg += " " + num(run.back().first) + "," + num(fill_base) + "\"/>\n";
      }
      run.clear();
    };
    for (size_t i = 0; i < series.x.size(); ++i) {
      if (std::isfinite(series.x[i]) && std::isfinite(series.y[i])) {
        run.emplace_back(a.px(series.x[i]), a.py(series.y[i]));
      } else {
        flush();
      }
    }
    flush();
  }
}

// Series: a polyline per run of finite points; a dot for each point of short series and for
// points with no finite neighbour.
void draw_lines(std::string& svg, const Chart& chart, const PlotArea& a) {
  for (size_t s = 0; s < chart.series.size() && chart.categories.empty(); ++s) {
    const Series& series = chart.series[s];
    size_t finite = 0;
    for (size_t i = 0; i < series.x.size(); ++i) {
      finite += std::isfinite(series.x[i]) && std::isfinite(series.y[i]);
    }
    const bool dots = finite <= 40;
    std::vector<std::pair<double, double>> run;
    const auto flush = [&] {
      if (run.size() >= 2) {
        svg += "<polyline fill=\"none\" " + stroke_attributes(s, series.dashed) +
               " stroke-width=\"2\" stroke-linejoin=\"round\" points=\"";
        for (size_t k = 0; k < run.size(); ++k) {
          svg += (k ? " " : "") + num(run[k].first) + "," + num(run[k].second);
        }
        svg += "\"/>\n";
      }
      if (run.size() == 1 || dots) {
        for (const auto& [x, y] : run) {
          svg += "<circle cx=\"" + num(x) + "\" cy=\"" + num(y) + "\" r=\"3\" fill=\"" +
                 kPalette[s % kPaletteSize] + "\"/>\n";
        }
      }
      run.clear();
    };
    for (size_t i = 0; i < series.x.size(); ++i) {
      if (std::isfinite(series.x[i]) && std::isfinite(series.y[i])) {
        run.emplace_back(a.px(series.x[i]), a.py(series.y[i]));
      } else {
        flush();
      }
    }
    flush();
  }
}

// Markers: a dashed vertical line, the label beside its top, staggered so neighbours do not
// overprint.
void draw_markers(std::string& svg, const Chart& chart, const PlotArea& a) {
  for (size_t m = 0; m < chart.markers.size(); ++m) {
    const Marker& marker = chart.markers[m];
    if (!std::isfinite(marker.x)) continue;
    const double x = a.px(marker.x);
    svg += "<line x1=\"" + num(x) + "\" y1=\"" + num(kPlotTop) + "\" x2=\"" + num(x) + "\" y2=\"" +
           num(kPlotBottom) + "\" stroke=\"#444\" stroke-dasharray=\"4 3\"/>\n";
    if (std::isfinite(marker.y)) {
      svg += "<circle cx=\"" + num(x) + "\" cy=\"" + num(a.py(marker.y)) +
             "\" r=\"4\" fill=\"none\" stroke=\"#222\" stroke-width=\"2\"/>\n";
    }
    // A white halo keeps the label readable over lines and shading.
    // The label goes right of the line when it fits there, else left of it.
    const double label_width = text_width(marker.label);
    const bool flip = x + 4 + label_width > a.right && x - a.left > a.right - x;
    svg += "<text x=\"" + num(flip ? x - 4 : x + 4) + "\" y=\"" +
           num(kPlotTop + 14 + static_cast<double>(m % 3) * 14) + "\" text-anchor=\"" +
           (flip ? "end" : "start") +
           "\" fill=\"#222\" stroke=\"white\" stroke-width=\"4\" paint-order=\"stroke\">" +
           escaped(marker.label) + "</text>\n";
  }
}

void draw_legend(std::string& svg, const Chart& chart, const PanelLayout& layout) {
  for (const LegendItem& item : layout.legend) {
    const double y = kLegendTop + item.row * kLegendRow;
    const auto swatch = [&](const std::string& fill, const char* opacity) {
      svg += "<rect x=\"" + num(item.x) + "\" y=\"" + num(y - 6) +
             "\" width=\"24\" height=\"12\" " + "fill=\"" + fill + "\" fill-opacity=\"" + opacity +
             "\"/>\n";
    };
    std::string name;
    if (item.region) {
      swatch(tint(chart.regions[item.index].colour), "1");
      name = chart.regions[item.index].label;
    } else {
      const Series& series = chart.series[item.index];
      if (!chart.categories.empty()) {
        swatch(kPalette[item.index % kPaletteSize], "1");
      } else {
        if (series.fill) swatch(kPalette[item.index % kPaletteSize], "0.35");
        svg += "<line x1=\"" + num(item.x) + "\" y1=\"" + num(y) + "\" x2=\"" + num(item.x + 24) +
               "\" y2=\"" + num(y) + "\" " + stroke_attributes(item.index, series.dashed) +
               " stroke-width=\"3\"/>\n";
      }
      name = series.name;
    }
    svg += "<text x=\"" + num(item.x + 30) + "\" y=\"" + num(y + kCenterText) + "\">" +
           escaped(name) + "</text>\n";
  }
}

// Draws one chart with its top-left corner at (0, 0) of the current group.
void draw_chart(std::string& svg, const Chart& chart, const PanelLayout& layout) {
  const double panel = panel_width(chart);
  const double right = panel - kRightMargin;
  const PlotArea area{layout.x_axis, layout.y_axis, layout.left, right, right - layout.left, panel};
  LT_ASSERT(area.x_axis.high > area.x_axis.low && area.y_axis.high > area.y_axis.low);
  draw_regions(svg, chart, area);
  draw_frame(svg, chart, area, layout.extent.any);
  if (!chart.categories.empty()) draw_bars(svg, chart, area);
  draw_fills(svg, chart, area);
  draw_lines(svg, chart, area);
  draw_markers(svg, chart, area);
  draw_legend(svg, chart, layout);
}

}  // namespace

Axis make_axis(double min, double max, AxisUnit unit, int intervals, bool integer_steps) {
  intervals = std::max(intervals, 1);
  if (!(min <= max)) {  // no data (or NaN)
    min = 0;
    max = 1;
  }
  min = clamp_value(min);
  max = clamp_value(max);
  const double magnitude = std::max(std::fabs(min), std::fabs(max));
  const Scale scale = unit == AxisUnit::kBytes ? byte_scale(magnitude) : Scale{1.0, ""};
  if (unit == AxisUnit::kBytes && scale.divisor == 1.0) integer_steps = true;  // no 0.5 B
  min /= scale.divisor;
  max /= scale.divisor;
  // A constant (or a range too narrow for doubles to step through) gets a range around it.
  const double mag = std::max(std::fabs(min), std::fabs(max));
  if (max - min <= mag * 1e-12 || max - min < 1e-290) {
    const double mid = min / 2 + max / 2;
    if (std::fabs(mid) < 1e-290) {
      min = 0;
      max = 1;
    } else {
      min = mid - std::fabs(mid) * 0.1;
      max = mid + std::fabs(mid) * 0.1;
    }
  }
  const double raw = (max / intervals - min / intervals);  // no overflow near 1e300
  const double decade = std::pow(10.0, std::floor(std::log10(raw)));
  double step = 10 * decade;
  for (double m : {1.0, 2.0, 5.0}) {
    if (m * decade >= raw * (1 - 1e-9)) {
      step = m * decade;
      break;
    }
  }
  if (integer_steps) step = std::max(step, 1.0);
  // Ticks k * step for k in [k_low, k_high]; the tolerance, relative to the quotient, keeps a
  // bound that is a multiple of step up to rounding (0.3 / 0.1 = 3.0000000000000004) from
  // adding one more tick.
  const double q_low = min / step, q_high = max / step;
  const double k_low = std::floor(q_low + 1e-12 * std::fabs(q_low));
  double k_high = std::ceil(q_high - 1e-12 * std::fabs(q_high));
  if (k_high <= k_low) k_high = k_low + 1;

  Axis axis;
  axis.low = k_low * step * scale.divisor;
  axis.high = k_high * step * scale.divisor;
  axis.step = step * scale.divisor;
  // Numbers: each label takes the largest suffix not above it (500, 1k, 1.5k), with the digits
  // the step needs in that suffix. Bytes: one unit for the whole axis, in which ticks are round.
  const double widest = std::max(std::fabs(k_low), std::fabs(k_high)) * step;
  const bool use_scientific = unit == AxisUnit::kNumber && step < 1e-4 && widest < 1e-3;
  for (double k = k_low; k <= k_high && axis.ticks.size() < 64; ++k) {
    const double v = k * step;  // in the bytes unit for kBytes
    axis.ticks.push_back(v * scale.divisor);
    std::string label;
    if (k == 0) {
      label = "0";
    } else if (use_scientific) {
      label = scientific(v, step);
    } else if (unit == AxisUnit::kBytes) {
      label = trimmed(v, decimals_for(step)) + " " + scale.suffix;
    } else {
      const Scale own = number_scale(std::fabs(v));
      label = trimmed(v / own.divisor, decimals_for(step / own.divisor)) + own.suffix;
    }
    axis.labels.push_back(label);
  }
  return axis;
}

std::string to_svg(std::span<const Chart> charts) {
  for (const Chart& chart : charts) {
    for (const Series& s : chart.series) {
      if (!chart.categories.empty()) {
        LT_CHECK(s.y.size() == chart.categories.size(), kInvalidArgument, "chart '", chart.title,
                 "': series '", s.name, "' has ", s.y.size(), " values but the chart has ",
                 chart.categories.size(), " categories; give one value per category");
        continue;
      }
      LT_CHECK(s.x.size() == s.y.size(), kInvalidArgument, "chart '", chart.title, "': series '",
               s.name, "' has ", s.x.size(), " x values but ", s.y.size(), " y values");
    }
  }
  std::vector<PanelLayout> layouts;
  double height = kLegendTop;
  for (const Chart& chart : charts) {
    layouts.push_back(layout_panel(chart));
    height = std::max(height, kLegendTop + legend_rows(layouts.back().legend) * kLegendRow);
  }
  height += 8;
  double width = 0;
  for (const Chart& chart : charts) width += panel_width(chart);
  if (charts.empty()) width = Chart{}.width;
  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + num(width) + "\" height=\"" +
         num(height) + "\" viewBox=\"0 0 " + num(width) + " " + num(height) +
         "\" font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\" font-size=\"12\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  double offset = 0;
  for (size_t i = 0; i < charts.size(); ++i) {
    svg += "<g transform=\"translate(" + num(offset) + ",0)\">\n";
    draw_chart(svg, charts[i], layouts[i]);
    svg += "</g>\n";
    offset += panel_width(charts[i]);
  }
  svg += "</svg>\n";
  return svg;
}

std::string to_svg(const Chart& chart) { return to_svg(std::span<const Chart>(&chart, 1)); }

void write_svg(const std::string& path, std::span<const Chart> charts) {
  write_file_atomically(path, to_svg(charts));
}

}  // namespace leantrain::train
