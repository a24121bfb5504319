#include "leantrain/train/plot.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <optional>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "leantrain/core/file.h"

namespace leantrain::train {
namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// --- a tiny XML well-formedness checker -------------------------------------------------------
// Checks: one root element; every start tag closed by a matching end tag in order; attribute
// values quoted, without '<', unique per element; '&' only as a predefined or numeric entity;
// no text outside the root but whitespace.

bool valid_entities(std::string_view text) {
  for (size_t i = text.find('&'); i != std::string_view::npos; i = text.find('&', i + 1)) {
    const std::string_view rest = text.substr(i + 1);
    bool ok = false;
    for (std::string_view name : {"amp;", "lt;", "gt;", "quot;", "apos;"}) {
      ok = ok || rest.starts_with(name);
    }
    if (!ok && rest.starts_with('#')) {  // &#123; or &#x1F;
      const bool hex = rest.size() > 1 && rest[1] == 'x';
      size_t j = hex ? 2 : 1;
      const size_t digits_from = j;
      while (j < rest.size() && (hex ? std::isxdigit(static_cast<unsigned char>(rest[j]))
                                     : std::isdigit(static_cast<unsigned char>(rest[j])))) {
        ++j;
      }
      ok = j > digits_from && j < rest.size() && rest[j] == ';';
    }
    if (!ok) return false;
  }
  return true;
}

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == ':' ||
         c == '.';
}

::testing::AssertionResult well_formed_xml(const std::string& doc) {
  const auto fail = [&](size_t at, const std::string& why) {
    return ::testing::AssertionFailure()
           << why << " at offset " << at << ": ..." << doc.substr(at, 60) << "...";
  };
  size_t i = 0;
  if (doc.rfind("<?xml", 0) == 0) {
    i = doc.find("?>");
    if (i == std::string::npos) return fail(0, "unterminated XML declaration");
    i += 2;
  }
  std::vector<std::string> open;
  int roots = 0;
  while (i < doc.size()) {
    if (doc[i] != '<') {
      const size_t end = std::min(doc.find('<', i), doc.size());
      const std::string_view text(doc.data() + i, end - i);
      if (!valid_entities(text)) return fail(i, "bad entity in text");
      if (open.empty() && text.find_first_not_of(" \t\r\n") != std::string_view::npos) {
        return fail(i, "text outside the root element");
      }
      i = end;
      continue;
    }
    if (doc.compare(i, 4, "<!--") == 0) {
      const size_t end = doc.find("-->", i);
      if (end == std::string::npos) return fail(i, "unterminated comment");
      i = end + 3;
      continue;
    }
    const bool closing = doc.compare(i, 2, "</") == 0;
    size_t j = i + (closing ? 2 : 1);
    const size_t name_start = j;
    while (j < doc.size() && name_char(doc[j])) ++j;
    const std::string name = doc.substr(name_start, j - name_start);
    if (name.empty() || std::isdigit(static_cast<unsigned char>(name[0]))) {
      return fail(i, "bad tag name");
    }
    if (closing) {
      while (j < doc.size() && std::isspace(static_cast<unsigned char>(doc[j]))) ++j;
      if (j >= doc.size() || doc[j] != '>') return fail(i, "bad end tag");
      if (open.empty() || open.back() != name) {
        return fail(i, "</" + name + "> closes <" + (open.empty() ? "" : open.back()) + ">");
      }
      open.pop_back();
      i = j + 1;
      continue;
    }
    std::set<std::string> attributes;
    bool self_closing = false;
    for (;;) {
      const size_t before = j;
      while (j < doc.size() && std::isspace(static_cast<unsigned char>(doc[j]))) ++j;
      if (j >= doc.size()) return fail(i, "unterminated start tag");
      if (doc[j] == '>') {
        ++j;
        break;
      }
      if (doc.compare(j, 2, "/>") == 0) {
        j += 2;
        self_closing = true;
        break;
      }
      if (j == before) return fail(j, "attributes must be separated by space");
      const size_t attr_start = j;
      while (j < doc.size() && name_char(doc[j])) ++j;
      const std::string attr = doc.substr(attr_start, j - attr_start);
      if (attr.empty()) return fail(j, "bad attribute name");
      if (!attributes.insert(attr).second) return fail(j, "duplicate attribute " + attr);
      if (j + 1 >= doc.size() || doc[j] != '=' || (doc[j + 1] != '"' && doc[j + 1] != '\'')) {
        return fail(j, "attribute " + attr + " without a quoted value");
      }
      const char quote = doc[j + 1];
      const size_t value_end = doc.find(quote, j + 2);
      if (value_end == std::string::npos) return fail(j, "unterminated attribute value");
      const std::string_view value(doc.data() + j + 2, value_end - j - 2);
      if (value.find('<') != std::string_view::npos) return fail(j, "'<' in attribute value");
      if (!valid_entities(value)) return fail(j, "bad entity in attribute value");
      j = value_end + 1;
    }
    if (open.empty()) ++roots;
    if (!self_closing) open.push_back(name);
    i = j;
  }
  if (!open.empty()) return fail(doc.size(), "<" + open.back() + "> is never closed");
  if (roots != 1) return fail(0, "expected one root element, found " + std::to_string(roots));
  return ::testing::AssertionSuccess();
}

TEST(XmlCheckerTest, CatchesMalformedDocuments) {
  EXPECT_TRUE(well_formed_xml("<?xml version=\"1.0\"?>\n<a x=\"1\"><b/>t &amp; u</a>\n"));
  EXPECT_FALSE(well_formed_xml("<a><b></a></b>"));
  EXPECT_FALSE(well_formed_xml("<a><b></a>"));
  EXPECT_FALSE(well_formed_xml("<a>x & y</a>"));
  EXPECT_FALSE(well_formed_xml("<a>x < y</a>"));
  EXPECT_FALSE(well_formed_xml("<a x=1></a>"));
  EXPECT_FALSE(well_formed_xml("<a x=\"1\" x=\"2\"></a>"));
  EXPECT_FALSE(well_formed_xml("<a></a><b></b>"));
  EXPECT_FALSE(well_formed_xml("<a x=\"<\"></a>"));
}

// --- axes --------------------------------------------------------------------------------------

// Succeeds when `step` is 1, 2 or 5 times a power of ten.
::testing::AssertionResult is_round_step(double step) {
  const double decade = std::pow(10.0, std::floor(std::log10(step)));
  const double m = step / decade;
  for (double ok : {1.0, 2.0, 5.0, 10.0}) {
    if (std::fabs(m - ok) < 1e-9 * ok) return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure() << "step " << step << " is " << m << " x " << decade;
}

TEST(MakeAxisTest, RoundsAHandWorkedRange) {
  // raw step 0.93 / 5 = 0.186 -> 0.2; ticks 0 .. ceil(0.93 / 0.2) * 0.2 = 1.
  const Axis a = make_axis(0, 0.93);
  EXPECT_DOUBLE_EQ(a.step, 0.2);
  EXPECT_DOUBLE_EQ(a.low, 0);
  EXPECT_DOUBLE_EQ(a.high, 1.0);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"0", "0.2", "0.4", "0.6", "0.8", "1"}));
  ASSERT_EQ(a.ticks.size(), 6u);
  EXPECT_NEAR(a.ticks[3], 0.6, 1e-12);
}

TEST(MakeAxisTest, CoversNegativeRanges) {
  // raw 1.0 / 5 = 0.2; floor(-0.3 / 0.2) = -2, ceil(0.7 / 0.2) = 4.
  const Axis a = make_axis(-0.3, 0.7);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"-0.4", "-0.2", "0", "0.2", "0.4", "0.6", "0.8"}));
}

TEST(MakeAxisTest, LabelsLargeNumbersCompactly) {
  // raw 1234 / 5 = 246.8 -> 500.
  EXPECT_EQ(make_axis(0, 1234).labels, (std::vector<std::string>{"0", "500", "1k", "1.5k"}));
  // raw 4e5 -> 5e5.
  EXPECT_EQ(make_axis(0, 2e6).labels, (std::vector<std::string>{"0", "500k", "1M", "1.5M", "2M"}));
  EXPECT_EQ(make_axis(0, 3e9, AxisUnit::kNumber, 3).labels,
            (std::vector<std::string>{"0", "1G", "2G", "3G"}));
}

TEST(MakeAxisTest, LabelsTinyNumbersInScientificNotation) {
  // raw 4e-6 / 5 = 8e-7 -> 1e-6.
  EXPECT_EQ(make_axis(1e-6, 5e-6).labels,
            (std::vector<std::string>{"1e-6", "2e-6", "3e-6", "4e-6", "5e-6"}));
}

TEST(MakeAxisTest, CountsBytesInBinaryUnitsWithRoundTicksInThatUnit) {
  const double mb = 1024.0 * 1024.0;
  // 300 MB: raw 60 MB -> 100 MB.
  const Axis a = make_axis(0, 300 * mb, AxisUnit::kBytes);
  EXPECT_EQ(a.labels, (std::vector<std::string>{"0", "100 MB", "200 MB", "300 MB"}));
  EXPECT_DOUBLE_EQ(a.step, 100 * mb);
  EXPECT_DOUBLE_EQ(a.ticks.back(), 300 * mb);
  // 1.5 GB: raw 0.3 GB -> 0.5 GB.
  EXPECT_EQ(make_axis(0, 1.5 * 1024 * mb, AxisUnit::kBytes).labels,
            (std::vector<std::string>{"0", "0.5 GB", "1 GB", "1.5 GB"}));
  // Under 1 KB: whole bytes only.
  EXPECT_EQ(make_axis(0, 3, AxisUnit::kBytes).labels,
            (std::vector<std::string>{"0", "1 B", "2 B", "3 B"}));
}

TEST(MakeAxisTest, IntegerAxesNeverStepBelowOne) {
  EXPECT_EQ(make_axis(1, 3, AxisUnit::kNumber, 6, /*integer_steps=*/true).labels,
            (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_EQ(make_axis(1, 10, AxisUnit::kNumber, 6, true).labels,
            (std::vector<std::string>{"0", "2", "4", "6", "8", "10"}));
  const Axis single = make_axis(1, 1, AxisUnit::kNumber, 6, true);
  EXPECT_LT(single.low, 1);
  EXPECT_GT(single.high, 1);
  EXPECT_GE(single.step, 1);
}

TEST(MakeAxisTest, TicksAreRoundAndCoverRandomRanges) {
  std::mt19937_64 gen(2024);
  std::uniform_real_distribution<double> exponent(-8, 12), unit(-1, 1);
  for (int trial = 0; trial < 2000; ++trial) {
    const double scale = std::pow(10.0, exponent(gen));
    double lo = unit(gen) * scale, hi = unit(gen) * scale;
    if (lo > hi) std::swap(lo, hi);
    const int intervals = 2 + trial % 7;
    const AxisUnit kind = trial % 3 == 0 ? AxisUnit::kBytes : AxisUnit::kNumber;
    const Axis a = make_axis(lo, hi, kind, intervals);
    SCOPED_TRACE(::testing::Message() << "[" << lo << ", " << hi << "] in " << intervals);
    ASSERT_LE(a.low, lo);
    ASSERT_GE(a.high, hi);
    ASSERT_EQ(a.ticks.size(), a.labels.size());
    ASSERT_GE(a.ticks.size(), 2u);
    // At least intervals / 2.5 steps (the widest rounding, 2 -> 5) and at most intervals + 2.
    const double steps = static_cast<double>(a.ticks.size() - 1);
    const bool whole_bytes = kind == AxisUnit::kBytes && std::fabs(a.high) < 1024 &&
                             std::fabs(a.low) < 1024 && a.step == 1;  // no 0.5 B steps
    if (!whole_bytes) {
      EXPECT_GE(steps, std::floor(intervals / 2.5));
    }
    EXPECT_LE(steps, intervals + 2);
    EXPECT_DOUBLE_EQ(a.ticks.front(), a.low);
    EXPECT_NEAR(a.ticks.back(), a.high, 1e-9 * std::fabs(a.high) + 1e-300);
    // Round steps: in the labels' binary unit for bytes, in plain numbers otherwise.
    double unit_size = 1;
    if (kind == AxisUnit::kBytes) {
      while (unit_size * 1024 <= std::max(std::fabs(lo), std::fabs(hi)) && unit_size < 0x1p40) {
        unit_size *= 1024;
      }
    }
    ASSERT_TRUE(is_round_step(a.step / unit_size));
    for (size_t i = 0; i < a.ticks.size(); ++i) {
      const double k = a.ticks[i] / a.step;
      EXPECT_NEAR(k, std::round(k), 1e-6) << "tick " << a.ticks[i] << " is off the grid";
      if (i > 0) {
        EXPECT_NEAR(a.ticks[i] - a.ticks[i - 1], a.step, 1e-6 * a.step);
        EXPECT_NE(a.labels[i], a.labels[i - 1]) << "labels must tell ticks apart";
      }
    }
  }
}

TEST(MakeAxisTest, DegenerateRangesStayFinite) {
  const auto finite = [](const Axis& a) {
    bool ok = std::isfinite(a.low) && std::isfinite(a.high) && a.high > a.low && a.step > 0;
    for (double t : a.ticks) ok = ok && std::isfinite(t);
    return ok && !a.ticks.empty();
  };
  const Axis none = make_axis(kInf, -kInf);
  EXPECT_EQ(none.low, 0);
  EXPECT_EQ(none.high, 1);
  EXPECT_TRUE(finite(make_axis(kNaN, kNaN)));
  EXPECT_TRUE(finite(make_axis(kNaN, 3)));
  const Axis zero = make_axis(0, 0);
  EXPECT_EQ(zero.low, 0);
  EXPECT_EQ(zero.high, 1);
  const Axis constant = make_axis(0.25, 0.25);
  EXPECT_TRUE(finite(constant));
  EXPECT_LT(constant.low, 0.25);
  EXPECT_GT(constant.high, 0.25);
  const Axis huge = make_axis(-1e308, 1e308);
  EXPECT_TRUE(finite(huge));
  EXPECT_LE(huge.low, -1e300);
  EXPECT_GE(huge.high, 1e300);
  EXPECT_TRUE(finite(make_axis(1e300, 1e300)));
  EXPECT_TRUE(finite(make_axis(5e-324, 1e-323)));
  EXPECT_TRUE(finite(make_axis(1e9, 1e9 + 1e-6)));
  EXPECT_TRUE(finite(make_axis(0, 1, AxisUnit::kNumber, 0)));
}

// --- SVG ---------------------------------------------------------------------------------------

std::vector<double> range(int from, int to) {
  std::vector<double> v;
  for (int i = from; i <= to; ++i) v.push_back(i);
  return v;
}

// The three kinds of report chart leantrain draws.
std::vector<Chart> training_run() {
  Chart loss{"Loss", "epoch", "loss", {}, {}, false};
  loss.series = {{"train", range(1, 5), {0.61, 0.42, 0.35, 0.31, 0.29}},
                 {"test", range(1, 5), {0.48, 0.41, 0.38, 0.37, 0.37}}};
  Chart acc{"Accuracy", "epoch", "accuracy", {}, {}, false};
  acc.series = {{"train", range(1, 5), {0.78, 0.85, 0.87, 0.89, 0.9}},
                {"test", range(1, 5), {0.83, 0.85, 0.86, 0.87, 0.87}}};
  return {loss, acc};
}

std::vector<Chart> batch_sweep() {
  const std::vector<double> batch = {16, 32, 64, 128, 256};
  Chart memory{"Peak memory", "batch size", "bytes", {}, {}, true};
  memory.series = {{"leantrain", batch, {41e6, 52e6, 75e6, 121e6, 213e6}},
                   {"keras", batch, {380e6, 420e6, 510e6, 690e6, 1050e6}}};
  Chart speed{"Throughput", "batch size", "images / s", {}, {}, true};
  speed.series = {{"leantrain", batch, {2100, 3400, 4100, 4500, 4600}}};
  return {memory, speed};
}

Chart timeline() {
  Chart c{"Live bytes in one step", "schedule step", "live bytes", {}, {}, true};
  Series live{"planned", {}, {}};
  for (int i = 0; i < 120; ++i) {
    live.x.push_back(i);
    live.y.push_back(1e6 * (10 + 40 * std::sin(i / 38.0) * std::sin(i / 38.0)));
  }
  c.series = {live};
  c.markers = {{62, "peak 48.2 MB"}};
  return c;
}

// The start tags of `tag` elements, "<tag ...>" (all of them when `tag` is empty).
std::vector<std::string> start_tags(const std::string& svg, const std::string& tag) {
  std::vector<std::string> out;
  for (size_t i = svg.find('<'); i != std::string::npos; i = svg.find('<', i + 1)) {
    if (svg.compare(i + 1, tag.size(), tag) != 0) continue;
    const char next = svg[i + 1 + tag.size()];
    if (tag.empty() ? (next == '/' || next == '?') : (next != ' ' && next != '>' && next != '/')) {
      continue;
    }
    out.push_back(svg.substr(i, svg.find('>', i) - i + 1));
  }
  return out;
}

// The value of attribute `name` in a start tag, or nullopt.
std::optional<std::string> attribute(const std::string& start_tag, const std::string& name) {
  const size_t at = start_tag.find(" " + name + "=\"");
  if (at == std::string::npos) return std::nullopt;
  const size_t from = at + name.size() + 3;
  return start_tag.substr(from, start_tag.find('"', from) - from);
}

// The values of every `name="..."` attribute of `tag` elements.
std::vector<std::string> attribute_values(const std::string& svg, const std::string& tag,
                                          const std::string& name) {
  std::vector<std::string> out;
  for (const std::string& el : start_tags(svg, tag)) {
    if (const auto value = attribute(el, name)) out.push_back(*value);
  }
  return out;
}

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t i = haystack.find(needle); i != std::string::npos; i = haystack.find(needle, i + 1)) {
    ++n;
  }
  return n;
}

// Succeeds when every coordinate attribute and every polyline point is a finite number.
::testing::AssertionResult finite_coordinates(const std::string& svg) {
  int checked = 0;
  for (const std::string& el : start_tags(svg, "")) {
    for (const char* name :
         {"x", "y", "x1", "x2", "y1", "y2", "cx", "cy", "r", "width", "height", "points"}) {
      const std::optional<std::string> found = attribute(el, name);
      if (!found) continue;
      const std::string& value = *found;
      if (value.empty() || value.back() == '%') continue;  // the background's 100%
      std::string spaced = value;
      for (char& c : spaced) c = c == ',' ? ' ' : c;
      std::istringstream numbers(spaced);
      std::string word;
      while (numbers >> word) {
        size_t used = 0;
        double v = 0;
        try {
          v = std::stod(word, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != word.size() || !std::isfinite(v)) {
          return ::testing::AssertionFailure() << name << "=\"" << value << "\" in " << el;
        }
        ++checked;
      }
    }
  }
  if (checked == 0) return ::testing::AssertionFailure() << "no coordinates found";
  return ::testing::AssertionSuccess();
}

TEST(SvgTest, ReportChartsAreWellFormedAndShowTheirText) {
  const std::string run = to_svg(training_run());
  EXPECT_TRUE(well_formed_xml(run));
  for (const char* text : {">Loss<", ">Accuracy<", ">epoch<", ">train<", ">test<"}) {
    EXPECT_NE(run.find(text), std::string::npos) << text;
  }
  EXPECT_EQ(count(run, "<polyline"), 4u);
  EXPECT_EQ(count(run, "<g transform="), 2u);

  const std::string sweep = to_svg(batch_sweep());
  EXPECT_TRUE(well_formed_xml(sweep));
  // Bytes in binary units (up to 1,050e6 B = 1,001 MB: ticks 500 MB apart), throughput with k.
  EXPECT_NE(sweep.find(">500 MB<"), std::string::npos);
  EXPECT_NE(sweep.find(">1500 MB<"), std::string::npos);
  EXPECT_NE(sweep.find(">4k<"), std::string::npos);

  const std::string step = to_svg(timeline());
  EXPECT_TRUE(well_formed_xml(step));
  EXPECT_NE(step.find(">peak 48.2 MB<"), std::string::npos);
  EXPECT_NE(step.find("stroke-dasharray"), std::string::npos);  // the marker line
  for (const std::string& svg : {run, sweep, step}) {
    EXPECT_EQ(svg.find("script"), std::string::npos);
    EXPECT_EQ(svg.find("href"), std::string::npos);  // nothing external
    EXPECT_TRUE(finite_coordinates(svg));
  }
}

TEST(SvgTest, PointsLieInsideThePlotFrame) {
  const std::string svg = to_svg(timeline());
  std::string frame;
  for (const std::string& rect : start_tags(svg, "rect")) {
    if (attribute(rect, "fill") == "none") frame = rect;
  }
  ASSERT_FALSE(frame.empty());
  const double x0 = std::stod(*attribute(frame, "x")), y0 = std::stod(*attribute(frame, "y"));
  const double x1 = x0 + std::stod(*attribute(frame, "width"));
  const double y1 = y0 + std::stod(*attribute(frame, "height"));
  const std::vector<std::string> polylines = attribute_values(svg, "polyline", "points");
  ASSERT_EQ(polylines.size(), 1u);
  std::istringstream points(polylines[0]);
  std::string point;
  int n = 0;
  double top = y1;
  while (points >> point) {
    const size_t comma = point.find(',');
    const double x = std::stod(point.substr(0, comma)), y = std::stod(point.substr(comma + 1));
    EXPECT_GE(x, x0 - 0.01);
    EXPECT_LE(x, x1 + 0.01);
    EXPECT_GE(y, y0 - 0.01);
    EXPECT_LE(y, y1 + 0.01);
    top = std::min(top, y);
    ++n;
  }
  EXPECT_EQ(n, 120);
  EXPECT_LT(top, y0 + (y1 - y0) * 0.25);  // the peak reaches the upper quarter
}

TEST(SvgTest, EscapesTextAndReplacesInvalidBytes) {
  Chart c{"<script>alert('x')</script> & \"more\"", "x\x01y", "bad \xff utf-8 \xc3", {}, {}, false};
  c.series = {{"a<b", {1, 2}, {1, 2}}};
  c.markers = {{1.5, "peak & co"}};
  const std::string svg = to_svg(c);
  EXPECT_TRUE(well_formed_xml(svg));
  EXPECT_EQ(svg.find("<script>"), std::string::npos);
  EXPECT_NE(svg.find("&lt;script&gt;alert(&apos;x&apos;)&lt;/script&gt; &amp; &quot;more&quot;"),
            std::string::npos);
  EXPECT_NE(svg.find(">a&lt;b<"), std::string::npos);
  EXPECT_NE(svg.find(">peak &amp; co<"), std::string::npos);
  EXPECT_NE(svg.find(">x y<"), std::string::npos);
  EXPECT_NE(svg.find(">bad \xEF\xBF\xBD utf-8 \xEF\xBF\xBD<"), std::string::npos);
  // Valid multi-byte text passes through.
  c.title = "Verlust \xC3\xBC \xE2\x86\x92 \xF0\x9F\x93\x89";
  EXPECT_NE(to_svg(c).find(c.title), std::string::npos);
}

TEST(SvgTest, DrawsDegenerateInputsWithoutNaNs) {
  std::vector<Chart> charts(7);
  charts[0].title = "no series";
  charts[1].title = "empty series";
  charts[1].series = {{"empty", {}, {}}};
  charts[2].title = "one point";
  charts[2].series = {{"one", {3}, {0.5}}};
  charts[3].title = "gaps";
  charts[3].series = {{"gappy", {1, 2, 3, 4, 5, 6}, {1, 2, kNaN, 4, kInf, 6}}};
  charts[4].title = "all NaN";
  charts[4].series = {{"nan", {1, 2}, {kNaN, kNaN}}};
  charts[5].title = "constant";
  charts[5].series = {{"flat", {1, 2, 3}, {7, 7, 7}}, {"", {1, 2, 3}, {7, 7, 7}}};
  charts[5].markers = {{kNaN, "lost"}, {2, "kept"}};
  charts[6].title = "huge";
  charts[6].series = {{"huge", {-1e308, 1e308}, {-1e308, 1e308}}};
  const std::string svg = to_svg(charts);
  EXPECT_TRUE(well_formed_xml(svg));
  EXPECT_TRUE(finite_coordinates(svg));
  EXPECT_EQ(count(svg, ">no data<"), 3u);  // no series, empty series, all NaN
  // gaps: [1,2] a line, [4] a lone dot, [6] a lone dot; constant: two lines; huge: one.
  EXPECT_EQ(count(svg, "<polyline"), 4u);
  EXPECT_EQ(svg.find(">lost<"), std::string::npos);
  EXPECT_NE(svg.find(">kept<"), std::string::npos);
  EXPECT_EQ(count(svg, ">flat<"), 1u);  // the unnamed series has no legend entry
  // Legend swatches: empty, one, gappy, nan, flat, huge (not the unnamed one).
  EXPECT_EQ(count(svg, "stroke-width=\"3\""), 6u);
  EXPECT_TRUE(well_formed_xml(to_svg(std::span<const Chart>())));
}

TEST(SvgTest, GivesEachSeriesItsOwnColour) {
  Chart c{"many", "x", "y", {}, {}, false};
  for (int i = 0; i < 12; ++i) c.series.push_back({"s" + std::to_string(i), {0, 1}, {0, 1.0 * i}});
  const std::string svg = to_svg(c);
  EXPECT_TRUE(well_formed_xml(svg));
  const std::vector<std::string> strokes = attribute_values(svg, "polyline", "stroke");
  ASSERT_EQ(strokes.size(), 12u);
  EXPECT_EQ(std::set<std::string>(strokes.begin(), strokes.begin() + 10).size(), 10u);
  // Beyond the palette, colours repeat with a dash pattern.
  EXPECT_EQ(attribute_values(svg, "polyline", "stroke-dasharray").size(), 2u);
}

TEST(SvgTest, MismatchedSeriesLengthsNameTheSeries) {
  Chart c{"Loss", "epoch", "loss", {{"train", {1, 2, 3}, {0.5, 0.4}}}, {}, false};
  try {
    to_svg(c);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("chart 'Loss': series 'train' has 3 x values but 2 y"),
              std::string::npos)
        << e.what();
  }
}

// Replacing a file atomically gives its name a new inode (written aside, then renamed): a hard
// link to the old file still reads the old bytes, where writing in place would have changed them
// under it. Nothing else is left in the directory.
TEST(SvgTest, WritesTheFileAtomically) {
  std::string dir = ::testing::TempDir() + "leantrain_plot_test_XXXXXX";
  ASSERT_NE(::mkdtemp(dir.data()), nullptr);
  const std::string path = dir + "/run.svg", link = dir + "/old.svg";
  std::ofstream(path) << "old plot";
  std::filesystem::create_hard_link(path, link);
  const std::vector<Chart> charts = training_run();
  write_svg(path, charts);
  EXPECT_EQ(read_file(path), to_svg(charts));
  EXPECT_EQ(read_file(link), "old plot");
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir),
                          std::filesystem::directory_iterator()),
            2);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace leantrain::train
