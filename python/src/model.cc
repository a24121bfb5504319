// leantrain._core.Model: an architecture the engine can train, read from Keras 3 JSON (what
// leantrain.keras builds) or from the zoo (keras.applications), and written back as Keras JSON.
#include <nanobind/nanobind.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "leantrain/nn/model.h"
#include "leantrain/nn/serialization.h"
#include "leantrain/nn/zoo.h"

namespace nb = nanobind;

namespace leantrain::python {
namespace {

nb::tuple to_tuple(const Shape& shape) {
  nb::list dims;
  for (const int64_t d : shape.dims()) dims.append(d);
  return nb::tuple(dims);
}

Shape to_shape(const std::vector<int64_t>& dims) { return Shape(std::span<const int64_t>(dims)); }

// (layer, variable, shape, trainable) per variable, in Keras' weights order.
nb::list variables(const nn::Model& model) {
  nb::list out;
  for (const nn::ModelVariable& v : model.variables()) {
    out.append(
        nb::make_tuple(v.layer, v.variable.name, to_tuple(v.variable.shape), v.variable.trainable));
  }
  return out;
}

// keras.applications' builders with weights=None, input_tensor=None.
nn::Model application(const std::string& name, const std::vector<int64_t>& input_shape,
                      double alpha, int64_t depth_multiplier, float dropout, bool include_top,
                      const std::string& pooling, int64_t classes,
                      const std::string& classifier_activation, const std::string& model_name) {
  const Shape shape = to_shape(input_shape);
  if (name == "MobileNet") {
    return nn::MobileNet({shape, alpha, depth_multiplier, dropout, include_top, pooling, classes,
                          classifier_activation, model_name});
  }
  if (name == "MobileNetV2") {
    return nn::MobileNetV2(
        {shape, alpha, include_top, pooling, classes, classifier_activation, model_name});
  }
  LT_CHECK(name == "EfficientNetB0", kNotFound, "no application ", name,
           "; leantrain has MobileNet, MobileNetV2 and EfficientNetB0");
  nn::EfficientNetOptions options{shape, include_top, pooling, classes, classifier_activation};
  if (!model_name.empty()) options.name = model_name;
  return nn::EfficientNetB0(options);
}

}  // namespace

void bind_model(nb::module_& m) {
  nb::class_<nn::Model>(m, "Model",
                        "A model's architecture (its layers share their variables' definitions).")
      .def_static("from_json", &nn::model_from_json, nb::arg("json"),
                  "keras.models.model_from_json(): the model a Keras 3 JSON describes.")
      .def(
          "to_json", [](const nn::Model& model) { return nn::to_json(model); },
          "Keras 3's model.to_json().")
      .def_prop_ro("name", &nn::Model::name)
      .def_prop_ro("input_shape",
                   [](const nn::Model& model) { return to_tuple(model.input_shape()); })
      .def_prop_ro("output_shape",
                   [](const nn::Model& model) { return to_tuple(model.output_shape()); })
      .def_prop_ro("is_sequential", &nn::Model::is_sequential)
      .def("layer_names",
           [](const nn::Model& model) {
             std::vector<std::string> names;
             for (const nn::LayerPtr& layer : model.layers()) names.push_back(layer->name());
             return names;
           })
      .def("variables", &variables,
           "(layer, variable, shape, trainable) per variable, in Keras' get_weights() order.")
      .def("count_params", &nn::Model::count_params, nb::arg("trainable"))
      .def(
          "summary", [](const nn::Model& model) { return model.summary(); },
          "Keras 3's model.summary() table.");
  m.def("application", &application, nb::arg("name"), nb::arg("input_shape"), nb::arg("alpha"),
        nb::arg("depth_multiplier"), nb::arg("dropout"), nb::arg("include_top"), nb::arg("pooling"),
        nb::arg("classes"), nb::arg("classifier_activation"), nb::arg("model_name"),
        "keras.applications.<name>(weights=None, ...).");
}

}  // namespace leantrain::python
