// The op interface: what every operation tells the compiler (shape rule, gradient rule, what
// backward keeps, in-place capability) and the kernel it runs as (with its scratch bytes).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "leantrain/core/dtype.h"
#include "leantrain/core/kernel_variants.h"
#include "leantrain/core/shape.h"
#include "leantrain/core/tensor.h"

namespace leantrain::graph {

using ValueId = int32_t;
using NodeId = int32_t;
constexpr ValueId kNoValue = -1;

struct TensorSpec {
  Shape shape;
  DType dtype = DType::kF32;
  // Bytes of a dense tensor of this shape and dtype.
  int64_t bytes() const { return shape.num_elements() * dtype_size(dtype); }
};

// Host-side values a step needs that change between steps (never baked into a program).
struct StepState {
  int64_t iteration = 1;        // optimizer step, 1 for the first update
  float learning_rate = 1e-3f;  // current learning rate
  uint64_t seed = 0;            // run seed; dropout masks mix it with iteration and node
};

struct RunArgs {
  std::span<const TensorView> inputs;
  std::span<const TensorView> outputs;
  void* scratch = nullptr;  // scratch_bytes() bytes inside the planned arena
  const StepState* state = nullptr;
};

// An executable kernel for fixed shapes. Created at compile time (which may throw); run() must
// not throw and must not allocate: all its memory is the views and the scratch it was given.
// Not thread-safe: the executor runs one kernel at a time.
class Kernel {
 public:
  virtual ~Kernel() = default;
  virtual int64_t scratch_bytes() const { return 0; }
  virtual void run(const RunArgs& args) = 0;
};

enum class KernelChoice { kFast, kReference };

// How a program's kernels are built: fast or reference, and the variant of the fast kernels that
// have several (core/kernel_variants.h).
struct KernelOptions {
  KernelChoice choice = KernelChoice::kFast;
  ConvWeightsLayout conv_weights = kDefaultConvWeightsLayout;  // Conv2D, DepthwiseConv2D
  DenseImpl dense = kDefaultDenseImpl;                         // Dense
};

class GradContext;
struct Node;

// Which of a forward node's inputs and outputs its gradient rule reads.
struct SavedForBackward {
  std::vector<int> inputs;
  std::vector<int> outputs;
};

// An operation. Immutable once made (attributes are fixed at construction), so one Op may be
// shared by many nodes and graphs.
class Op {
 public:
  virtual ~Op() = default;
  // The op's type name, e.g. "Conv2D".
  virtual std::string type() const = 0;
  // Shape rule: returns the outputs for these inputs; throws Error(kInvalidArgument) naming the
  // op and the offending shape when they do not fit.
  virtual std::vector<TensorSpec> infer(std::span<const TensorSpec> inputs) const = 0;
  // Gradient rule: adds the backward nodes to `ctx` and returns one gradient per input
  // (kNoValue where the input needs none or is not differentiable). `output_grads` has one entry
  // per output, kNoValue where no gradient flows. The default: not differentiable.
  virtual std::vector<ValueId> gradient(GradContext& ctx, const Node& node,
                                        std::span<const ValueId> output_grads) const;
  // What backward reads of the forward node. Autodiff checks the gradient rule reads nothing
  // else of the forward pass, so this is the truth the memory report relies on.
  virtual SavedForBackward saved_for_backward() const { return {}; }
  // Index of the input that output 0 may overwrite (an elementwise op), or -1.
  virtual int inplace_input() const { return -1; }
  // True when output 0 is input 0's bytes under another shape (Reshape): never a copy.
  virtual bool aliases_input() const { return false; }
  // Indices of inputs the op writes (optimizer updates write parameters and their state).
  virtual std::vector<int> mutated_inputs() const { return {}; }
  // Creates the kernel for these shapes, as `options` choose.
  virtual std::unique_ptr<Kernel> compile(std::span<const TensorSpec> inputs,
                                          std::span<const TensorSpec> outputs,
                                          const KernelOptions& options) const = 0;
};

// Implemented (beside Op) by every op whose forward writes persistent state, i.e. whose
// mutated_inputs() is not empty in a forward node (training BatchNormalization updates its
// moving statistics), so that a recomputation does not write that state a second time.
// passes::apply_remat() refuses to recompute an op with mutated inputs that does not implement
// it.
class RecomputableOp {
 public:
  virtual ~RecomputableOp() = default;
  // An op with the same inputs and output specs whose kernels write the same output bytes for
  // the same inputs and write no input: mutated_inputs() is empty. Never null.
  virtual std::shared_ptr<const Op> without_side_effects() const = 0;
};

}  // namespace leantrain::graph
