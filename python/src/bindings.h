// Shared declarations of the Python extension leantrain._core: each file binds one part of the
// engine (model.cc: models and the zoo; trainer.cc: compile, fit, evaluate, predict, weights
// and memory plans; callbacks.cc: Keras' callbacks and Python ones; data.cc: input pipelines).
#pragma once

#include <nanobind/nanobind.h>

#include <cstring>
#include <functional>
#include <memory>
#include <streambuf>
#include <string>
#include <type_traits>
#include <utility>

#include "leantrain/train/callbacks.h"

namespace leantrain::python {

void bind_model(nanobind::module_& m);
void bind_trainer(nanobind::module_& m);
void bind_callbacks(nanobind::module_& m);
void bind_data(nanobind::module_& m);

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
    nanobind::gil_scoped_acquire acquire;
    nanobind::object out = nanobind::module_::import_("sys").attr("stdout");
    out.attr("write")(buffer_);
    out.attr("flush")();
    buffer_.clear();
    return 0;
  }

 private:
  std::string buffer_;
};

// Keras' logs dict from the engine's, and back (non-numeric entries of `dict` are ignored).
nanobind::dict to_dict(const train::Logs& logs);
train::Logs from_dict(const nanobind::handle& dict);

// A callback that calls the Python object `dispatcher`'s methods on_train_begin(),
// on_epoch_begin(epoch), on_train_batch_end(batch, logs), on_epoch_end(epoch, logs) (which may
// change logs) and on_train_end(logs), holding the GIL; a method returning True stops training.
// After each batch it also runs Python's signal handlers, so Ctrl-C raises KeyboardInterrupt
// out of fit between two steps. The object must be destroyed with the GIL held.
train::CallbackPtr python_callback(nanobind::object dispatcher);

// A Python callable as a C++ function, called with the GIL held.
template <typename R, typename... Args>
std::function<R(Args...)> with_gil(nanobind::object fn) {
  auto shared = std::shared_ptr<nanobind::object>(new nanobind::object(std::move(fn)),
                                                  [](nanobind::object* p) {
                                                    nanobind::gil_scoped_acquire acquire;
                                                    delete p;
                                                  });
  return [shared](Args... args) -> R {
    nanobind::gil_scoped_acquire acquire;
    if constexpr (std::is_void_v<R>) {
      (*shared)(args...);
    } else {
      return nanobind::cast<R>((*shared)(args...));
    }
  };
}

}  // namespace leantrain::python
