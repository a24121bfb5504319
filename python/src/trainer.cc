// leantrain._core.Trainer: compile, fit, evaluate and predict on numpy arrays (read in place:
// batches are assembled straight into the program's input slot), weights, and the memory plan.
// The GIL is released while steps run.
#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/function.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/shared_ptr.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/tuple.h>
#include <nanobind/stl/vector.h>

#include <cstring>
#include <memory>
#include <optional>
#include <ostream>
#include <streambuf>
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

// What fit() prints (the progress bar), written to Python's sys.stdout as Keras' is, so that
// notebooks and redirections see it. Holds the GIL only while writing.
class PythonStdout final : public std::streambuf {
 protected:
  int overflow(int c) override {
    if (c != traits_type::eof()) buffer_.push_back(static_cast<char>(c));
    if (c == '\n' || c == '\r') sync();
    return c;
  }
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    buffer_.append(s, static_cast<size_t>(n));
    if (std::memchr(s, '\n', static_cast<size_t>(n)) ||
        std::memchr(s, '\r', static_cast<size_t>(n)))
      sync();
    return n;
  }
  int sync() override {
    if (buffer_.empty()) return 0;
    nb::gil_scoped_acquire acquire;
    nb::object out = nb::module_::import_("sys").attr("stdout");
    out.attr("write")(buffer_);
    out.attr("flush")();
    buffer_.clear();
    return 0;
  }

 private:
  std::string buffer_;
};

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

nb::list fit(Trainer& trainer, const Array& x, const Labels& y, int64_t batch_size, int epochs,
             bool shuffle, const std::optional<Array>& validation_x,
             const std::optional<Labels>& validation_y, nb::object dispatcher,
             std::vector<train::CallbackPtr> callbacks, int initial_epoch, int64_t steps_per_epoch,
             int verbose) {
  train::FitOptions options{.epochs = epochs,
                            .batch_size = batch_size,
                            .shuffle = shuffle,
                            .initial_epoch = initial_epoch,
                            .steps_per_epoch = steps_per_epoch,
                            .verbose = verbose};
  const data::ImagesView train = view_of(x, y, "x");
  if (validation_x.has_value()) {
    options.validation_data = view_of(*validation_x, validation_y, "validation x");
  }
  options.callbacks = std::move(callbacks);
  options.callbacks.insert(options.callbacks.begin(), python_callback(std::move(dispatcher)));
  PythonStdout buffer;
  std::ostream out(&buffer);
  options.out = &out;
  train::History history;
  {
    nb::gil_scoped_release release;
    history = trainer.fit(train, options);
    out.flush();
  }
  options.callbacks.clear();  // Python objects are released with the GIL held
  nb::list epochs_out;
  for (const train::EpochLogs& e : history.epochs) epochs_out.append(to_dict(e.logs));
  return epochs_out;
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
  return train::profile_memory(program, trainer.store().total_bytes(),
                               "training step, batch " + std::to_string(batch_size))
      .table();
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
  nb::class_<Schedule>(m, "Schedule", "A learning-rate schedule the engine computes.");
  nb::class_<Trainer>(m, "Trainer",
                      "One model compiled for training (Keras' compile); not thread-safe.")
      .def(nb::new_(&make_trainer), nb::arg("model"), nb::arg("optimizer"), nb::arg("loss"),
           nb::arg("from_logits"), nb::arg("metrics"), nb::arg("seed"), nb::arg("memory_budget"),
           nb::arg("micro_batches"), nb::arg("bf16_storage"), nb::arg("allocator"),
           nb::arg("memory_limit"))
      .def("fit", &fit, nb::arg("x"), nb::arg("y"), nb::arg("batch_size"), nb::arg("epochs"),
           nb::arg("shuffle"), nb::arg("validation_x").none(), nb::arg("validation_y").none(),
           nb::arg("dispatcher"), nb::arg("callbacks"), nb::arg("initial_epoch"),
           nb::arg("steps_per_epoch"), nb::arg("verbose"),
           "Trains; returns each epoch's logs. x is read in place.")
      .def("evaluate", &evaluate, nb::arg("x"), nb::arg("y"), nb::arg("batch_size"))
      .def("predict", &predict, nb::arg("x"), nb::arg("batch_size"))
      .def("get_weights", &get_weights)
      .def("set_weights", &set_weights, nb::arg("weights"))
      .def("save_weights", &Trainer::save_weights, nb::arg("path"))
      .def("load_weights", &Trainer::load_weights, nb::arg("path"))
      .def(
          "plan", [](Trainer& t, int64_t batch_size) { return t.plan(batch_size); },
          nb::arg("batch_size"))
      .def(
          "summary",
          [](Trainer& t, int64_t batch_size) {
            const auto memory = t.layer_memory(batch_size);
            return t.model().summary(&memory);
          },
          nb::arg("batch_size"))
      .def("largest_batch_within", &Trainer::largest_batch_within, nb::arg("budget"),
           nb::arg("max_batch"))
      .def("profile", &profile, nb::arg("batch_size"))
      .def_prop_rw("learning_rate", &Trainer::learning_rate, &Trainer::set_learning_rate)
      .def_prop_ro("iterations", &Trainer::iterations)
      .def("stop_training", &Trainer::stop_training);
}

}  // namespace leantrain::python
