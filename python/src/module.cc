// leantrain._core: the module, and leantrain::Error as Python exceptions.
#include <nanobind/nanobind.h>

#include "bindings.h"
#include "leantrain/core/error.h"

namespace nb = nanobind;

namespace leantrain::python {
namespace {

// The exception class for each error kind, subclassing the Python built-in a Keras user
// catches for it.
struct ErrorClasses {
  nb::object out_of_budget, data_loss;
};

void translate(const std::exception_ptr& p, void* payload) {
  const auto* classes = static_cast<const ErrorClasses*>(payload);
  try {
    std::rethrow_exception(p);
  } catch (const Error& e) {
    PyObject* type = PyExc_RuntimeError;
    switch (e.code()) {
      case ErrorCode::kInvalidArgument:
        type = PyExc_ValueError;
        break;
      case ErrorCode::kNotFound:
        type = PyExc_FileNotFoundError;
        break;
      case ErrorCode::kDataLoss:
        type = classes->data_loss.ptr();
        break;
      case ErrorCode::kOutOfBudget:
        type = classes->out_of_budget.ptr();
        break;
      case ErrorCode::kUnimplemented:
        type = PyExc_NotImplementedError;
        break;
      case ErrorCode::kIo:
        type = PyExc_OSError;
        break;
      default:
        break;
    }
    PyErr_SetString(type, e.what());
  }
}

}  // namespace
}  // namespace leantrain::python

NB_MODULE(_core, m) {
  using namespace leantrain::python;
  m.doc() = "leantrain's engine: models, training and memory plans (use leantrain.keras)";
  static ErrorClasses& classes = *new ErrorClasses;  // never destroyed: outlives the interpreter
  classes.out_of_budget = nb::steal(PyErr_NewExceptionWithDoc(
      "leantrain.OutOfBudgetError", "No plan fits the memory budget; the message names what would.",
      PyExc_MemoryError, nullptr));
  classes.data_loss = nb::steal(PyErr_NewExceptionWithDoc(
      "leantrain.DataLossError", "A file is corrupt or truncated; the message names it.",
      PyExc_ValueError, nullptr));
  m.attr("OutOfBudgetError") = classes.out_of_budget;
  m.attr("DataLossError") = classes.data_loss;
  nb::register_exception_translator(translate, &classes);
  bind_model(m);
  bind_trainer(m);
  bind_callbacks(m);
  bind_data(m);
}
