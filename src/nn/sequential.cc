#include "leantrain/nn/sequential.h"

#include <map>

#include "leantrain/core/error.h"
#include "leantrain/core/format.h"
#include "leantrain/memory/arena.h"

namespace leantrain::nn {
namespace {

// Display width of UTF-8 text (every code point counts one column).
size_t columns(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string pad(const std::string& s, size_t width, bool right) {
  const size_t w = columns(s);
  if (w >= width) return s;
  const std::string fill(width - w, ' ');
  return right ? fill + s : s + fill;
}

std::string repeat(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) out += s;
  return out;
}

}  // namespace

Sequential::Sequential(Shape input_shape, std::vector<LayerPtr> layers, std::string name)
    : name_(std::move(name)), input_shape_(input_shape), layers_(std::move(layers)) {
  std::map<std::string, int> counts;
  shapes_.push_back(input_shape_);
  for (const LayerPtr& layer : layers_) {
    LT_CHECK(layer != nullptr, kInvalidArgument, "Sequential '", name_, "': a layer is null");
    const std::string stem = layer->default_name();
    const int k = counts[stem]++;
    layer->set_name(k == 0 ? stem : stem + "_" + std::to_string(k));
    shapes_.push_back(layer->output_shape(shapes_.back()));
  }
}

std::vector<ModelVariable> Sequential::variables() const {
  std::vector<ModelVariable> out;
  for (size_t i = 0; i < layers_.size(); ++i) {
    for (Variable& v : layers_[i]->variables(shapes_[i])) {
      out.push_back(ModelVariable{layers_[i]->name(), std::move(v)});
    }
  }
  return out;
}

int64_t Sequential::count_params(bool trainable) const {
  int64_t n = 0;
  for (const ModelVariable& v : variables()) {
    if (v.variable.trainable == trainable) n += v.variable.shape.num_elements();
  }
  return n;
}

BuiltModel Sequential::build(graph::Graph& g, int64_t batch, bool training) const {
  LT_CHECK(batch > 0, kInvalidArgument, "batch size must be positive, got ", batch);
  BuiltModel built;
  built.input = g.add_value("input", {input_shape_.rank() == 0 ? Shape{batch} : [&] {
                              std::vector<int64_t> dims{batch};
                              for (int64_t d : input_shape_.dims()) dims.push_back(d);
                              return Shape(dims);
                            }(), DType::kF32},
                            graph::ValueKind::kInput);
  graph::ValueId x = built.input;
  for (size_t i = 0; i < layers_.size(); ++i) {
    const Layer& layer = *layers_[i];
    std::vector<graph::ValueId> vars;
    for (const Variable& v : layer.variables(shapes_[i])) {
      vars.push_back(g.add_value(
          layer.name() + "/" + v.name, {v.shape, DType::kF32},
          v.trainable ? graph::ValueKind::kParameter : graph::ValueKind::kState, layer.name()));
    }
    x = layer.build(g, x, vars, training);
  }
  built.output = x;
  return built;
}

std::string Sequential::summary() const {
  // Keras 3's rich table for sequential models: 88 columns split 38/29/17 between the borders.
  const size_t w0 = 36, w1 = 27, w2 = 15;  // text widths (each cell has one space either side)
  auto rule = [&](const char* left, const char* fill, const char* mid, const char* right) {
    return std::string(left) + repeat(fill, w0 + 2) + mid + repeat(fill, w1 + 2) + mid +
           repeat(fill, w2 + 2) + right + "\n";
  };
  auto row = [&](const char* bar, const std::string& a, const std::string& b,
                 const std::string& c) {
    return std::string(bar) + " " + pad(a, w0, false) + " " + bar + " " + pad(b, w1, false) + " " +
           bar + " " + pad(c, w2, true) + " " + bar + "\n";
  };
  std::string out = "Model: \"" + name_ + "\"\n";
  out += rule("┏", "━", "┳", "┓");
  out += row("┃", "Layer (type)", "Output Shape", "Param #");
  out += rule("┡", "━", "╇", "┩");
  for (size_t i = 0; i < layers_.size(); ++i) {
    if (i > 0) out += rule("├", "─", "┼", "┤");
    int64_t params = 0;
    for (const Variable& v : layers_[i]->variables(shapes_[i])) params += v.shape.num_elements();
    std::vector<int64_t> dims{1};
    for (int64_t d : shapes_[i + 1].dims()) dims.push_back(d);
    out += row("│", layers_[i]->name() + " (" + layers_[i]->class_name() + ")",
               Shape(dims).to_string(/*batch_as_none=*/true), with_commas(params));
  }
  out += rule("└", "─", "┴", "┘");
  const int64_t trainable = count_params(true), frozen = count_params(false);
  out += " Total params: " + with_commas(trainable + frozen) + " (" +
         memory::readable_bytes((trainable + frozen) * 4) + ")\n";
  out += " Trainable params: " + with_commas(trainable) + " (" +
         memory::readable_bytes(trainable * 4) + ")\n";
  out += " Non-trainable params: " + with_commas(frozen) + " (" +
         memory::readable_bytes(frozen * 4) + ")\n";
  return out;
}

}  // namespace leantrain::nn
