// Model::summary(): Keras 3's table, drawn the way the `rich` library draws it for Keras
// (column widths from Keras' positions, reduced by rich's ratio_reduce to fit the borders; cells
// word-wrapped as rich's divide_line does).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <regex>

#include "leantrain/core/format.h"
#include "leantrain/memory/arena.h"
#include "leantrain/nn/model.h"

namespace leantrain::nn {
namespace {

// Display width of UTF-8 text (every code point counts one column).
size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// The first `n` columns of `s`.
std::string take_columns(const std::string& s, size_t n) {
  size_t i = 0, seen = 0;
  while (i < s.size()) {
    if ((static_cast<unsigned char>(s[i]) & 0xC0) != 0x80) {
      if (seen == n) break;
      ++seen;
    }
    ++i;
  }
  return s.substr(0, i);
}

std::string rstrip(std::string s) {
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

// rich's divide_line: words are runs of non-space with the spaces around them; a word that does
// not fit goes to a new line, and a word longer than the width is folded.
std::vector<std::string> wrap(const std::string& text, size_t width) {
  std::vector<std::string> lines{""};
  size_t offset = 0;
  static const std::regex word_re(R"(\s*\S+\s*)");
  bool at_start = true;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), word_re);
       it != std::sregex_iterator(); ++it) {
    std::string word = it->str();
    const size_t length = columns(rstrip(word));
    if (width >= offset + length) {
      lines.back() += word;
      offset += columns(word);
    } else if (length > width) {
      bool first = true;
      while (!word.empty()) {
        const std::string piece = take_columns(word, width);
        word.erase(0, piece.size());
        if (!(first && at_start)) lines.emplace_back();
        lines.back() += piece;
        offset = columns(piece);
        first = false;
      }
    } else if (offset > 0) {
      lines.push_back(word);
      offset = columns(word);
    }
    at_start = false;
  }
  return lines;
}

struct Column {
  std::string header;
  size_t width;  // text width (the cell adds one space either side)
  bool right;
};

std::string fit(const std::string& line, size_t width, bool right) {
  std::string s = right ? rstrip(line) : line;
  if (columns(s) > width) s = take_columns(rstrip(s), width);
  const std::string fill(width - columns(s), ' ');
  return right ? fill + s : s + fill;
}

std::string rule(const std::vector<Column>& cols, const char* left, const char* fill,
                 const char* mid, const char* right) {
  std::string out = left;
  for (size_t i = 0; i < cols.size(); ++i) {
    if (i > 0) out += mid;
    out += repeat(fill, cols[i].width + 2);
  }
  return out + right + "\n";
}

std::string row(const std::vector<Column>& cols, const std::vector<std::string>& cells,
                const char* bar) {
  std::vector<std::vector<std::string>> wrapped;
  size_t height = 1;
  for (size_t i = 0; i < cols.size(); ++i) {
    wrapped.push_back(wrap(cells[i], cols[i].width));
    height = std::max(height, wrapped.back().size());
  }
  std::string out;
  for (size_t line = 0; line < height; ++line) {
    out += bar;
    for (size_t i = 0; i < cols.size(); ++i) {
      const std::string text = line < wrapped[i].size() ? wrapped[i][line] : "";
      out += " " + fit(text, cols[i].width, cols[i].right) + " " + bar;
    }
    out += "\n";
  }
  return out;
}

// Keras' column widths for a table `line_length` wide at `positions`, as rich fits them between
// the borders: each column's width plus its padding, reduced evenly (rich's ratio_reduce, with
// Python's round-half-to-even) by the excess. Returns text widths.
std::vector<size_t> keras_widths(int line_length, const std::vector<double>& positions) {
  std::vector<int> widths;
  int current = 0;
  for (double p : positions) {
    const int w = static_cast<int>(p * line_length) - current;
    widths.push_back(w + 2);
    current += w;
  }
  int total = 0;
  for (int w : widths) total += w;
  int excess = total - (line_length - static_cast<int>(positions.size()) - 1);
  int ratio_left = static_cast<int>(widths.size());
  for (int& w : widths) {
    const double share = static_cast<double>(excess) / ratio_left;
    int cut = static_cast<int>(std::nearbyint(share));  // ties to even, as Python's round()
    cut = std::min(cut, w);
    w -= cut;
    excess -= cut;
    --ratio_left;
  }
  std::vector<size_t> text;
  for (int w : widths) text.push_back(static_cast<size_t>(w - 2));
  return text;
}

std::string shape_with_none(const Shape& s) {
  std::vector<int64_t> dims{1};
  for (int64_t d : s.dims()) dims.push_back(d);
  return Shape(dims).to_string(/*batch_as_none=*/true);
}

std::string percent(double share) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", share * 100.0);
  return buf;
}

}  // namespace

std::string Model::summary(const std::map<std::string, LayerMemory>* memory,
                           int64_t optimizer_params) const {
  const bool chain = sequential_like_;
  std::vector<size_t> widths =
      chain ? keras_widths(88, {0.45, 0.80, 1.0}) : keras_widths(108, {0.3, 0.56, 0.74, 1.0});
  std::vector<Column> cols{{"Layer (type)", widths[0], false},
                           {"Output Shape", widths[1], false},
                           {"Param #", widths[2], true}};
  if (!chain) cols.push_back({"Connected to", widths[3], false});
  if (memory != nullptr) {
    cols.push_back({"Kept for backward", 17, true});
    cols.push_back({"% of peak", 9, true});
  }

  std::string out = "Model: \"" + name_ + "\"\n";
  out += rule(cols, "┏", "━", "┳", "┓");
  std::vector<std::string> header;
  for (const Column& c : cols) header.push_back(c.header);
  out += row(cols, header, "┃");
  out += rule(cols, "┡", "━", "╇", "┩");
  bool first = true;
  for (const LayerPtr& layer : layers_) {
    if (is_sequential_ && layer->arity() == 0) continue;  // Sequential hides its InputLayer
    std::string connected, shape;
    std::vector<Shape> input_shapes;
    for (const Tensor& t : calls_) {
      const Tensor::Call& c = t.call();
      if (c.layer != layer) continue;
      if (input_shapes.empty()) {
        for (const Tensor& in : c.inputs) input_shapes.push_back(in.shape());
      }
      shape = shape_with_none(c.shape);
      for (const Tensor& in : c.inputs) {
        if (!connected.empty()) connected += ", ";
        connected += in.call().layer->name() + "[" + std::to_string(in.call().node_index) + "][0]";
      }
    }
    int64_t params = 0;
    for (const Variable& v : layer->variables(input_shapes)) params += v.shape.num_elements();
    std::vector<std::string> cells{layer->name() + " (" + layer->class_name() + ")", shape,
                                   with_commas(params)};
    if (!chain) cells.push_back(connected.empty() ? "-" : connected);
    if (memory != nullptr) {
      auto it = memory->find(layer->name());
      const LayerMemory m = it == memory->end() ? LayerMemory{} : it->second;
      cells.push_back(memory::readable_bytes(m.kept_for_backward_bytes));
      cells.push_back(percent(m.share_of_peak));
    }
    if (!first) out += rule(cols, "├", "─", "┼", "┤");
    first = false;
    out += row(cols, cells, "│");
  }
  out += rule(cols, "└", "─", "┴", "┘");
  const int64_t trainable = count_params(true), frozen = count_params(false);
  // Keras' optimizer variables are f32 but for the int64 iteration counter: 4 bytes more.
  const int64_t optimizer_bytes = optimizer_params > 0 ? optimizer_params * 4 + 4 : 0;
  const int64_t total = trainable + frozen + std::max<int64_t>(optimizer_params, 0);
  out += " Total params: " + with_commas(total) + " (" +
         memory::readable_bytes((trainable + frozen) * 4 + optimizer_bytes) + ")\n";
  out += " Trainable params: " + with_commas(trainable) + " (" +
         memory::readable_bytes(trainable * 4) + ")\n";
  out += " Non-trainable params: " + with_commas(frozen) + " (" +
         memory::readable_bytes(frozen * 4) + ")\n";
  if (optimizer_params > 0) {
    out += " Optimizer params: " + with_commas(optimizer_params) + " (" +
           memory::readable_bytes(optimizer_bytes) + ")\n";
  }
  return out;
}

}  // namespace leantrain::nn
