// Keras' callbacks as the engine implements them (EarlyStopping, ModelCheckpoint, CSVLogger,
// TerminateOnNaN, ReduceLROnPlateau, LearningRateScheduler), and the callback through which
// Python's keras.callbacks.Callback subclasses receive the same hooks and logs.
#include <nanobind/nanobind.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>

#include <cmath>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "bindings.h"
#include "leantrain/train/trainer.h"

namespace nb = nanobind;

namespace leantrain::python {

nb::dict to_dict(const train::Logs& logs) {
  nb::dict d;
  for (const auto& [key, value] : logs) d[key.c_str()] = value;
  return d;
}

train::Logs from_dict(const nb::handle& dict) {
  train::Logs logs;
  for (const auto& [key, value] : nb::borrow<nb::dict>(dict)) {
    double v = 0;
    if (nb::try_cast(value, v)) logs[nb::cast<std::string>(key)] = v;
  }
  return logs;
}

namespace {

class PythonCallback final : public train::Callback {
 public:
  explicit PythonCallback(nb::object dispatcher) : dispatcher_(std::move(dispatcher)) {}

  void on_train_begin(train::Trainer& trainer) override {
    nb::gil_scoped_acquire acquire;
    stop_if(trainer, dispatcher_.attr("on_train_begin")());
  }
  void on_epoch_begin(train::Trainer& trainer, int epoch) override {
    nb::gil_scoped_acquire acquire;
    stop_if(trainer, dispatcher_.attr("on_epoch_begin")(epoch));
  }
  void on_train_batch_end(train::Trainer& trainer, int64_t batch,
                          const train::Logs& logs) override {
    nb::gil_scoped_acquire acquire;
    if (PyErr_CheckSignals() != 0) throw nb::python_error();  // Ctrl-C between two steps
    stop_if(trainer, dispatcher_.attr("on_train_batch_end")(batch, to_dict(logs)));
  }
  void on_epoch_end(train::Trainer& trainer, int epoch, train::Logs& logs) override {
    nb::gil_scoped_acquire acquire;
    nb::dict d = to_dict(logs);
    stop_if(trainer, dispatcher_.attr("on_epoch_end")(epoch, d));
    logs = from_dict(d);
  }
  void on_train_end(train::Trainer& trainer, const train::Logs& logs) override {
    nb::gil_scoped_acquire acquire;
    stop_if(trainer, dispatcher_.attr("on_train_end")(to_dict(logs)));
  }

 private:
  static void stop_if(train::Trainer& trainer, const nb::object& result) {
    if (nb::isinstance<nb::bool_>(result) && nb::cast<bool>(result)) trainer.stop_training();
  }

  nb::object dispatcher_;
};

}  // namespace

train::CallbackPtr python_callback(nb::object dispatcher) {
  return std::make_shared<PythonCallback>(std::move(dispatcher));
}

void bind_callbacks(nb::module_& m) {
  nb::class_<train::Callback>(m, "EngineCallback", "A callback the engine implements.");
  m.def(
      "early_stopping",
      [](std::string monitor, double min_delta, int patience, int verbose, std::string mode,
         std::optional<double> baseline, bool restore_best_weights, int start_from_epoch) {
        return train::EarlyStopping({std::move(monitor), min_delta, patience, verbose,
                                     std::move(mode), baseline, restore_best_weights,
                                     start_from_epoch});
      },
      nb::arg("monitor"), nb::arg("min_delta"), nb::arg("patience"), nb::arg("verbose"),
      nb::arg("mode"), nb::arg("baseline").none(), nb::arg("restore_best_weights"),
      nb::arg("start_from_epoch"));
  m.def(
      "model_checkpoint",
      [](std::string filepath, std::string monitor, int verbose, bool save_best_only,
         std::string mode, std::optional<double> initial_value_threshold, nb::object save) {
        train::ModelCheckpointOptions o{
            std::move(filepath), std::move(monitor), verbose,
            save_best_only,      std::move(mode),    initial_value_threshold};
        auto fn = with_gil<void, const std::string&>(std::move(save));
        o.save = [fn](train::Trainer&, const std::string& path) { fn(path); };
        return train::ModelCheckpoint(o);
      },
      nb::arg("filepath"), nb::arg("monitor"), nb::arg("verbose"), nb::arg("save_best_only"),
      nb::arg("mode"), nb::arg("initial_value_threshold").none(), nb::arg("save"));
  m.def(
      "csv_logger",
      [](std::string filename, std::string separator, bool append) {
        return train::CSVLogger({std::move(filename), std::move(separator), append});
      },
      nb::arg("filename"), nb::arg("separator"), nb::arg("append"));
  m.def("terminate_on_nan", &train::TerminateOnNaN, nb::arg("raise_error"));
  m.def(
      "reduce_lr_on_plateau",
      [](std::string monitor, double factor, int patience, int verbose, std::string mode,
         double min_delta, int cooldown, double min_lr) {
        return train::ReduceLROnPlateau({std::move(monitor), factor, patience, verbose,
                                         std::move(mode), min_delta, cooldown, min_lr});
      },
      nb::arg("monitor"), nb::arg("factor"), nb::arg("patience"), nb::arg("verbose"),
      nb::arg("mode"), nb::arg("min_delta"), nb::arg("cooldown"), nb::arg("min_lr"));
  m.def(
      "learning_rate_scheduler",
      [](nb::object schedule, int verbose) {
        return train::LearningRateScheduler(with_gil<double, int, double>(std::move(schedule)),
                                            verbose);
      },
      nb::arg("schedule"), nb::arg("verbose"));
}

}  // namespace leantrain::python
