// Helpers shared by the op files: kernels from callables and shape checks.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <utility>

#include "kernels/shape_ops.h"
#include "leantrain/core/error.h"
#include "leantrain/graph/graph.h"
#include "ops/ops.h"

namespace leantrain::ops {

// A kernel whose run() calls `fn(args)`; `fn` must not throw.
template <typename Fn>
class FnKernel final : public graph::Kernel {
 public:
  FnKernel(Fn fn, int64_t scratch_bytes) : fn_(std::move(fn)), scratch_bytes_(scratch_bytes) {}
  int64_t scratch_bytes() const override { return scratch_bytes_; }
  void run(const graph::RunArgs& args) override { fn_(args); }

 private:
  Fn fn_;
  int64_t scratch_bytes_;
};

template <typename Fn>
std::unique_ptr<graph::Kernel> make_kernel(Fn fn, int64_t scratch_bytes = 0) {
  return std::make_unique<FnKernel<Fn>>(std::move(fn), scratch_bytes);
}

// Throws Error(kInvalidArgument) unless `spec` has `rank` dimensions and dtype f32.
inline void check_f32(const std::string& op, const char* what, const graph::TensorSpec& spec,
                      int rank) {
  LT_CHECK(spec.shape.rank() == rank && spec.dtype == DType::kF32, kInvalidArgument, op, ": ", what,
           " must be a rank-", rank, " f32 tensor, got ", dtype_name(spec.dtype), " ",
           spec.shape.to_string());
}

inline void check_arity(const std::string& op, std::span<const graph::TensorSpec> inputs,
                        size_t low, size_t high) {
  LT_CHECK(inputs.size() >= low && inputs.size() <= high, kInternal, op, " takes ", low, "..", high,
           " inputs, got ", inputs.size());
}

inline float* f32(const TensorView& v) { return static_cast<float*>(v.data); }

}  // namespace leantrain::ops
