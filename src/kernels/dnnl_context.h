// The process-wide oneDNN CPU engine and stream. Private to src/kernels: no oneDNN type leaks
// into the public headers.
#pragma once

#include <oneapi/dnnl/dnnl.h>
#include <oneapi/dnnl/dnnl_debug.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <oneapi/dnnl/dnnl.hpp>

namespace leantrain::kernels {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

// Empties oneDNN's primitive cache (its capacity stays): the JIT code of primitives no kernel
// holds any more is freed. Kernels alive keep their primitives.
void drop_cached_primitives();

// Returns the user-scratchpad attribute every leantrain primitive is created with.
dnnl::primitive_attr user_scratchpad_attr();

// Kernels hand oneDNN their scratch rounded up to this alignment.
constexpr int64_t kScratchAlign = 64;

// Returns `scratch` rounded up to kScratchAlign.
inline char* aligned_base(void* scratch) {
  const auto address = reinterpret_cast<uintptr_t>(scratch);
  const uintptr_t align = kScratchAlign;
  return static_cast<char*>(scratch) + ((align - address % align) % align);
}

// Total bytes for a layout whose aligned part is `bytes`: slack to align the caller's pointer.
inline int64_t with_alignment_slack(int64_t bytes) {
  return bytes == 0 ? 0 : bytes + kScratchAlign - 1;
}

// A oneDNN primitive and its arguments, bound to caller pointers at run time. Holds memory
// objects without buffers; bind() points them at the caller's data. Not thread-safe.
class BoundPrimitive {
 public:
  BoundPrimitive() = default;
  // `what` names the primitive in the message if it ever fails at run time ("convolution").
  BoundPrimitive(dnnl::primitive primitive, const char* what)
      : primitive_(std::move(primitive)), what_(what) {}

  bool empty() const { return !primitive_; }

  // Adds argument `arg` (DNNL_ARG_*) described by `md`; zero-sized scratchpads are skipped.
  void add(int arg, const dnnl::memory::desc& md) {
    if (arg == DNNL_ARG_SCRATCHPAD && md.get_size() == 0) return;
    memories_.emplace_back(md, cpu_engine(), static_cast<void*>(DNNL_MEMORY_NONE));
    args_.push_back({arg, memories_.back().get()});
  }

  // Points argument `arg` at `data`; arguments never added are ignored.
  void bind(int arg, const void* data) const {
    for (const dnnl_exec_arg_t& a : args_) {
      if (a.arg == arg) check(dnnl_memory_set_data_handle(a.memory, const_cast<void*>(data)));
    }
  }

  void execute() const {
    check(dnnl_primitive_execute(primitive_.get(), cpu_stream().get(),
                                 static_cast<int>(args_.size()), args_.data()));
    check(dnnl_stream_wait(cpu_stream().get()));
  }

 private:
  // Construction validated everything oneDNN can reject, so a failure here is a broken
  // invariant; run() must not throw, so it ends the process with the status.
  void check(dnnl_status_t status) const {
    if (status == dnnl_success) return;
    std::fprintf(stderr, "leantrain: internal error: oneDNN %s failed at run time (%s)\n", what_,
                 dnnl_status2str(status));
    std::abort();
  }

  dnnl::primitive primitive_;
  const char* what_ = "primitive";
  std::vector<dnnl::memory> memories_;
  std::vector<dnnl_exec_arg_t> args_;
};

}  // namespace leantrain::kernels
