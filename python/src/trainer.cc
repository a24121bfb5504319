// leantrain._core.Trainer: compile, fit, evaluate and predict on numpy arrays (read in place:
// batches are assembled straight into the program's input slot), weights, and the memory plan.
// The GIL is released while steps run.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.h"
#include "leantrain/core/error.h"
#include "leantrain/runtime/program.h"
#include "leantrain/train/memory_profile.h"
#include "leantrain/train/trainer.h"

namespace nb = nanobind;

namespace leantrain::python {
namespace {

using train::Trainer;
using Array = nb::ndarray<nb::ro, nb::c_contig, nb::device::cpu>;
using Labels = nb::ndarray<nb::ro, int32_t, nb::ndim<1>, nb::c_contig, nb::device::cpu>;

// x (N, H, W, C) u8 or f32 and, when given, y (N) class ids, as a view of their memory.
data::ImagesView view_of(const Array& x, const std::optional<Labels>& y, const char* what) {
  LT_CHECK(x.ndim() == 4, kInvalidArgument, what, " has ", x.ndim(),
           " dimensions; leantrain takes images as (samples, height, width, channels)");
  const bool u8 = x.dtype() == nb::dtype<uint8_t>();
  LT_CHECK(u8 || x.dtype() == nb::dtype<float>(), kInvalidArgument, what,
           " must be uint8 or float32 (convert it with x.astype('float32'))");
  data::ImagesView view{.count = static_cast<int64_t>(x.shape(0)),
                        .height = static_cast<int64_t>(x.shape(1)),
                        .width = static_cast<int64_t>(x.shape(2)),
                        .channels = static_cast<int64_t>(x.shape(3)),
                        .pixels = x.data(),
                        .dtype = u8 ? DType::kU8 : DType::kF32};
  if (y.has_value()) {
    LT_CHECK(static_cast<int64_t>(y->shape(0)) == view.count, kInvalidArgument, what, " has ",
             view.count, " samples but its labels ", y->shape(0));
    view.labels = y->data();
  }
  return view;
}

nb::ndarray<nb::numpy, float> new_array(std::vector<size_t> shape) {
  size_t n = 1;
  for (const size_t d : shape) n *= d;
  auto* data = new float[n];
  nb::capsule owner(data, [](void* p) noexcept { delete[] static_cast<float*>(p); });
  return nb::ndarray<nb::numpy, float>(data, shape.size(), shape.data(), owner);
}

// A learning-rate schedule the engine computes (Keras' built-in ones).
struct Schedule {
  train::LearningRateSchedule fn;
};

// `schedule`: None, a Schedule, or a Python callable step -> learning rate (called per step).
train::Optimizer make_optimizer(const std::string& name, float learning_rate, float momentum,
                                bool nesterov, float beta_1, float beta_2, float epsilon,
                                float weight_decay, nb::object schedule) {
  train::Optimizer o;
  if (name == "sgd") {
    o = train::SGD({learning_rate, momentum, nesterov});
  } else if (name == "adam") {
    o = train::Adam({learning_rate, beta_1, beta_2, epsilon});
  } else {
    LT_CHECK(name == "adamw", kUnimplemented, "optimizer '", name,
             "': leantrain has sgd, adam and adamw");
    o = train::AdamW({learning_rate, weight_decay, beta_1, beta_2, epsilon});
  }
  if (nb::isinstance<Schedule>(schedule)) {
    o.schedule = nb::cast<const Schedule&>(schedule).fn;
  } else if (!schedule.is_none()) {
    o.schedule = with_gil<double, int64_t>(std::move(schedule));
  }
  return o;
}

// Keras' built-in schedules by class name (keras.optimizers.schedules), from their config.
Schedule schedule_from_config(const std::string& class_name, const nb::dict& c) {
  const auto get = [&](const char* key) { return nb::cast<double>(c[key]); };
  if (class_name == "CosineDecay") {
    train::CosineDecayOptions o{get("initial_learning_rate"), nb::cast<int64_t>(c["decay_steps"]),
                                get("alpha")};
    if (!c["warmup_target"].is_none()) o.warmup_target = get("warmup_target");
    o.warmup_steps = nb::cast<int64_t>(c["warmup_steps"]);
    return {train::CosineDecay(o)};
  }
  if (class_name == "ExponentialDecay") {
    return {
        train::ExponentialDecay({get("initial_learning_rate"), nb::cast<int64_t>(c["decay_steps"]),
                                 get("decay_rate"), nb::cast<bool>(c["staircase"])})};
  }
  LT_CHECK(class_name == "PiecewiseConstantDecay", kUnimplemented, "learning-rate schedule ",
           class_name,
           ": leantrain has CosineDecay, ExponentialDecay, PiecewiseConstantDecay and "
           "Python callables");
  return {train::PiecewiseConstantDecay(nb::cast<std::vector<int64_t>>(c["boundaries"]),
                                        nb::cast<std::vector<double>>(c["values"]))};
}

Trainer* make_trainer(const nn::Model& model, train::Optimizer optimizer, const std::string& loss,
                      bool from_logits,
                      const std::vector<std::tuple<std::string, int, std::string>>& metrics,
                      uint64_t seed, int64_t memory_budget, int micro_batches, bool bf16_storage,
                      const std::string& allocator, int64_t memory_limit) {
  train::CompileOptions o;
  o.optimizer = std::move(optimizer);
  o.loss = train::Loss::parse(loss, from_logits);
  o.metrics.clear();
  for (const auto& [kind, k, name] : metrics) o.metrics.emplace_back(kind, k, name);
  o.seed = seed;
  o.memory_budget_bytes = memory_budget;
  o.micro_batches = micro_batches;
  o.bf16_storage = bf16_storage;
  o.allocator = {memory::parse_allocator_mode(allocator), memory_limit};
  return new Trainer(model, std::move(o));
}

// Batches from a Python object with num_batches (an int, -1 when unknown), start_epoch(epoch)
// and next() -> None or (x, y): x (N, H, W, C) uint8 or float32 and y (N) int32 class ids, both
// C-contiguous (leantrain.keras converts what a generator or PyDataset yields). Holds the GIL
// only while calling it, and the last batch's arrays until the next call.
class PythonBatches final : public train::BatchProvider {
 public:
  explicit PythonBatches(nb::object source)
      : source_(std::move(source)), num_batches_(nb::cast<int64_t>(source_.attr("num_batches"))) {}
  ~PythonBatches() override {
    nb::gil_scoped_acquire acquire;
    source_.reset();
    batch_.reset();
  }
  int64_t num_batches() const override { return num_batches_; }
  void start_epoch(int64_t epoch) override {
    nb::gil_scoped_acquire acquire;
    source_.attr("start_epoch")(epoch);
  }
  data::ImagesView next() override {
    nb::gil_scoped_acquire acquire;
    batch_ = source_.attr("next")();
    if (batch_.is_none()) return {};
    const auto pair = nb::cast<nb::tuple>(batch_);
    return view_of(nb::cast<Array>(pair[0]), nb::cast<Labels>(pair[1]), "a batch's x");
  }

 private:
  nb::object source_;
  int64_t num_batches_;
  nb::object batch_;
};

// std::cout (the callbacks' messages) written to sys.stdout while it lives.
class CoutToPython {
 public:
  CoutToPython() : previous_(std::cout.rdbuf(&buffer_)) {}
  ~CoutToPython() {
    std::cout.flush();
    std::cout.rdbuf(previous_);
  }
  CoutToPython(const CoutToPython&) = delete;
  CoutToPython& operator=(const CoutToPython&) = delete;
  std::streambuf* buffer() { return &buffer_; }

 private:
  PythonStdout buffer_;
  std::streambuf* previous_;
};

// The callbacks in the order given: an engine callback as it is, anything else a Python
// callback's dispatcher (see python_callback).
std::vector<train::CallbackPtr> engine_callbacks(const nb::list& callbacks) {
  std::vector<train::CallbackPtr> out;
  for (nb::handle c : callbacks) {
    train::CallbackPtr engine;
    if (nb::try_cast(c, engine)) {
      out.push_back(std::move(engine));
    } else {
      out.push_back(python_callback(nb::borrow(c)));
    }
  }
  return out;
}

// Trains on `train` with `callbacks` (see engine_callbacks), the GIL released and what the
// engine prints going to sys.stdout; returns each epoch's logs.
template <typename Train>
nb::list run_fit(Trainer& trainer, Train& train, train::FitOptions options,
                 const nb::list& callbacks) {
  options.callbacks = engine_callbacks(callbacks);
  train::History history;
  {
    CoutToPython cout;
    std::ostream out(cout.buffer());
    options.out = &out;
    nb::gil_scoped_release release;
    history = trainer.fit(train, options);
    out.flush();
  }
  options.callbacks.clear();  // Python objects are released with the GIL held
  nb::list epochs_out;
  for (const train::EpochLogs& e : history.epochs) epochs_out.append(to_dict(e.logs));
  return epochs_out;
}

train::FitOptions fit_options(int64_t batch_size, int epochs, bool shuffle,
                              const std::optional<Array>& validation_x,
                              const std::optional<Labels>& validation_y, int initial_epoch,
                              int64_t steps_per_epoch, int verbose) {
  train::FitOptions options{.epochs = epochs,
                            .batch_size = batch_size,
                            .shuffle = shuffle,
                            .initial_epoch = initial_epoch,
                            .steps_per_epoch = steps_per_epoch,
                            .verbose = verbose};
  if (validation_x.has_value()) {
    options.validation_data = view_of(*validation_x, validation_y, "validation x");
  }
  return options;
}

nb::list fit(Trainer& trainer, const Array& x, const Labels& y, int64_t batch_size, int epochs,
             bool shuffle, const std::optional<Array>& validation_x,
             const std::optional<Labels>& validation_y, const nb::list& callbacks,
             int initial_epoch, int64_t steps_per_epoch, int verbose) {
  const data::ImagesView train = view_of(x, y, "x");
  return run_fit(trainer, train,
                 fit_options(batch_size, epochs, shuffle, validation_x, validation_y, initial_epoch,
                             steps_per_epoch, verbose),
                 callbacks);
}

nb::list fit_batches(Trainer& trainer, nb::object source, int epochs,
                     const std::optional<Array>& validation_x,
                     const std::optional<Labels>& validation_y, const nb::list& callbacks,
                     int initial_epoch, int64_t steps_per_epoch, int verbose) {
  PythonBatches train(std::move(source));
  return run_fit(trainer, train,
                 fit_options(32, epochs, false, validation_x, validation_y, initial_epoch,
                             steps_per_epoch, verbose),
                 callbacks);
}

nb::list fit_dataset(Trainer& trainer, const data::Dataset& dataset, int epochs,
                     const data::Dataset* validation, const nb::list& callbacks, int initial_epoch,
                     int64_t steps_per_epoch, int verbose) {
  train::FitOptions options = fit_options(0, epochs, false, std::nullopt, std::nullopt,
                                          initial_epoch, steps_per_epoch, verbose);
  options.validation_dataset = validation;
  return run_fit(trainer, dataset, options, callbacks);
}

nb::dict evaluate_dataset(Trainer& trainer, const data::Dataset& dataset) {
  train::EvalResult result;
  {
    nb::gil_scoped_release release;
    result = trainer.evaluate(dataset);
  }
  return to_dict(result.logs);
}

nb::dict evaluate(Trainer& trainer, const Array& x, const Labels& y, int64_t batch_size) {
  const data::ImagesView view = view_of(x, y, "x");
  train::EvalResult result;
  {
    nb::gil_scoped_release release;
    result = trainer.evaluate(view, batch_size);
  }
  return to_dict(result.logs);
}

nb::ndarray<nb::numpy, float> predict(Trainer& trainer, const Array& x, int64_t batch_size) {
  const data::ImagesView view = view_of(x, std::nullopt, "x");
  std::vector<size_t> shape{static_cast<size_t>(view.count)};
  for (const int64_t d : trainer.model().output_shape().dims())
    shape.push_back(static_cast<size_t>(d));
  nb::ndarray<nb::numpy, float> out = new_array(shape);
  const std::span<float> dst(out.data(), out.size());
  {
    nb::gil_scoped_release release;
    trainer.predict_into(view, batch_size, dst);
  }
  return out;
}

nb::list get_weights(const Trainer& trainer) {
  const std::vector<nn::ModelVariable> variables = trainer.model().variables();
  const std::vector<std::vector<float>> values = trainer.get_weights();
  nb::list out;
  for (size_t i = 0; i < values.size(); ++i) {
    std::vector<size_t> shape;
    for (const int64_t d : variables[i].variable.shape.dims())
      shape.push_back(static_cast<size_t>(d));
    nb::ndarray<nb::numpy, float> a = new_array(shape);
    std::copy(values[i].begin(), values[i].end(), a.data());
    out.append(a);
  }
  return out;
}

void set_weights(
    Trainer& trainer,
    const std::vector<nb::ndarray<nb::ro, float, nb::c_contig, nb::device::cpu>>& weights) {
  std::vector<std::vector<float>> values;
  values.reserve(weights.size());
  for (const auto& w : weights) values.emplace_back(w.data(), w.data() + w.size());
  trainer.set_weights(values);
}

std::string profile(Trainer& trainer, int64_t batch_size) {
  runtime::Program& program = trainer.training_program(batch_size);
  const train::MemoryProfile p = train::profile_memory(
      program, trainer.store().total_bytes(), "training step, batch " + std::to_string(batch_size));
  return p.table() + "\n" + p.peak_line() + "\n";
}

void bind_memory_report(nb::module_& m) {
  nb::class_<train::MemoryReport>(m, "MemoryReport",
                                  "What a training run takes, known before its first step.")
      .def_ro("batch_size", &train::MemoryReport::batch_size)
      .def_ro("parameters_bytes", &train::MemoryReport::parameters_bytes)
      .def_ro("state_bytes", &train::MemoryReport::state_bytes)
      .def_ro("gradients_bytes", &train::MemoryReport::gradients_bytes)
      .def_ro("optimizer_bytes", &train::MemoryReport::optimizer_bytes)
      .def_ro("persistent_bytes", &train::MemoryReport::persistent_bytes)
      .def_ro("train_arena_bytes", &train::MemoryReport::train_arena_bytes)
      .def_ro("eval_arena_bytes", &train::MemoryReport::eval_arena_bytes)
      .def_ro("arena_bytes", &train::MemoryReport::arena_bytes)
      .def_ro("pipeline_bytes", &train::MemoryReport::pipeline_bytes)
      .def_ro("micro_batches", &train::MemoryReport::micro_batches)
      .def_ro("kept_for_backward_bytes", &train::MemoryReport::kept_for_backward_bytes)
      .def_ro("runtime_bytes", &train::MemoryReport::runtime_bytes)
      .def_ro("predicted_peak_bytes", &train::MemoryReport::predicted_peak_bytes)
      .def_ro("memory_budget_bytes", &train::MemoryReport::memory_budget_bytes)
      .def_ro("extra_compute_fraction", &train::MemoryReport::extra_compute_fraction)
      .def_prop_ro("plan", [](const train::MemoryReport& r) { return plan_kind_name(r.plan_kind); })
      .def("__str__", &train::MemoryReport::to_string);
}

}  // namespace

void bind_trainer(nb::module_& m) {
  bind_memory_report(m);
  m.def("make_optimizer", &make_optimizer, nb::arg("name"), nb::arg("learning_rate"),
        nb::arg("momentum"), nb::arg("nesterov"), nb::arg("beta_1"), nb::arg("beta_2"),
        nb::arg("epsilon"), nb::arg("weight_decay"), nb::arg("schedule").none());
  m.def("schedule_from_config", &schedule_from_config, nb::arg("class_name"), nb::arg("config"));
  nb::class_<train::Optimizer>(m, "Optimizer");
  nb::class_<Schedule>(m, "Schedule", "A learning-rate schedule the engine computes.")
      .def(
          "__call__", [](const Schedule& s, int64_t step) { return s.fn(step); }, nb::arg("step"),
          "The learning rate after `step` completed steps.");
  nb::class_<Trainer>(m, "Trainer",
                      "One model compiled for training (Keras' compile); not thread-safe.")
      .def(nb::new_(&make_trainer), nb::arg("model"), nb::arg("optimizer"), nb::arg("loss"),
           nb::arg("from_logits"), nb::arg("metrics"), nb::arg("seed"), nb::arg("memory_budget"),
           nb::arg("micro_batches"), nb::arg("bf16_storage"), nb::arg("allocator"),
           nb::arg("memory_limit"))
      .def("fit", &fit, nb::arg("x"), nb::arg("y"), nb::arg("batch_size"), nb::arg("epochs"),
           nb::arg("shuffle"), nb::arg("validation_x").none(), nb::arg("validation_y").none(),
           nb::arg("callbacks"), nb::arg("initial_epoch"), nb::arg("steps_per_epoch"),
           nb::arg("verbose"), "Trains; returns each epoch's logs. x is read in place.")
      .def("fit_batches", &fit_batches, nb::arg("source"), nb::arg("epochs"),
           nb::arg("validation_x").none(), nb::arg("validation_y").none(), nb::arg("callbacks"),
           nb::arg("initial_epoch"), nb::arg("steps_per_epoch"), nb::arg("verbose"),
           "Trains on batches source.next() returns (see PythonBatches).")
      .def("fit_dataset", &fit_dataset, nb::arg("dataset"), nb::arg("epochs"),
           nb::arg("validation").none(), nb::arg("callbacks"), nb::arg("initial_epoch"),
           nb::arg("steps_per_epoch"), nb::arg("verbose"))
      .def("evaluate_dataset", &evaluate_dataset, nb::arg("dataset"))
      .def("evaluate", &evaluate, nb::arg("x"), nb::arg("y"), nb::arg("batch_size"))
      .def("predict", &predict, nb::arg("x"), nb::arg("batch_size"))
      .def("get_weights", &get_weights)
      .def("set_weights", &set_weights, nb::arg("weights"))
      .def("copy_training_state", &Trainer::copy_training_state, nb::arg("source"),
           "Takes over the weights, moving statistics, optimizer state, iteration count and "
           "learning rate of a trainer of the same model and optimizer.")
      .def("save_weights", &Trainer::save_weights, nb::arg("path"))
      .def("load_weights", &Trainer::load_weights, nb::arg("path"))
      .def(
          "plan", [](Trainer& t, int64_t batch_size) { return t.plan(batch_size); },
          nb::arg("batch_size"))
      .def(
          "summary",
          [](Trainer& t, int64_t batch_size, int64_t optimizer_params) {
            const auto memory = t.layer_memory(batch_size);
            return t.model().summary(&memory, optimizer_params);
          },
          nb::arg("batch_size"), nb::arg("optimizer_params"))
      .def("largest_batch_within", &Trainer::largest_batch_within, nb::arg("budget"),
           nb::arg("max_batch"))
      .def("profile", &profile, nb::arg("batch_size"))
      .def_prop_rw("learning_rate", &Trainer::learning_rate, &Trainer::set_learning_rate)
      .def_prop_ro("iterations", &Trainer::iterations)
      .def("stop_training", &Trainer::stop_training);
}

}  // namespace leantrain::python
