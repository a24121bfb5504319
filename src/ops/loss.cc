// Loss ops (Keras' categorical, sparse categorical and binary cross-entropy, mean squared error;
// the fused softmax + sparse cross-entropy from logits) and the top-1 accuracy count.
//
// Every loss outputs the mean over the batch, shape (1) f32. Its backward node reads the
// prediction and the target (declared in saved_for_backward) and, when the loss is not the final
// one (a sum of losses, a scaled loss), the incoming gradient of shape (1); it may write the
// gradient over the prediction when that dies there. Targets and labels get no gradient.
#include "kernels/losses.h"
#include "kernels/softmax_xent.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

void check_logits_labels(const std::string& op, std::span<const TensorSpec> in) {
  check_f32(op, "logits", in[0], 2);
  LT_CHECK(in[0].shape[0] >= 1 && in[0].shape[1] >= 1, kInvalidArgument, op,
           ": logits need at least one row and one class, got ", in[0].shape.to_string());
  LT_CHECK(in[1].dtype == DType::kI32 && in[1].shape == Shape{in[0].shape[0]}, kInvalidArgument, op,
           ": labels must be i32 of shape (", in[0].shape[0], ",), got ", dtype_name(in[1].dtype),
           " ", in[1].shape.to_string());
}

// A backward node's optional last input: the gradient of the scalar loss, shape (1) f32.
void check_diff_loss(const std::string& op, std::span<const TensorSpec> in, size_t index) {
  if (in.size() <= index) return;
  LT_CHECK(in[index].dtype == DType::kF32 && in[index].shape.num_elements() == 1, kInternal, op,
           ": the incoming loss gradient must be one f32, got ", dtype_name(in[index].dtype), " ",
           in[index].shape.to_string());
}

// The value of the incoming loss gradient: input `index` when present, else 1 (the final loss).
float diff_loss(const RunArgs& a, size_t index) {
  return a.inputs.size() > index ? f32(a.inputs[index])[0] : 1.0f;
}

// The backward inputs of a loss node: prediction, target and, unless this loss is the final one,
// its incoming gradient.
std::vector<graph::ValueId> backward_inputs(const graph::Node& node, graph::ValueId dy) {
  std::vector<graph::ValueId> in = {node.inputs[0], node.inputs[1]};
  if (dy != graph::kNoValue) in.push_back(dy);
  return in;
}

class SoftmaxXentBwdOp final : public graph::Op {
 public:
  std::string type() const override { return "SoftmaxCrossEntropyBackward"; }
  // (logits, labels[, diff_loss]) -> diff_logits.
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 3);
    check_logits_labels(type(), in);
    check_diff_loss(type(), in, 2);
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::softmax_xent_bwd_fast
                                                    : kernels::softmax_xent_bwd_ref;
    const int64_t n = in[0].shape[0], c = in[0].shape[1];
    return make_kernel([fn, n, c](const RunArgs& a) {
      fn(f32(a.inputs[0]), a.inputs[1].i32(), n, c, diff_loss(a, 2), f32(a.outputs[0]));
    });
  }
};

class SoftmaxXentOp final : public graph::Op {
 public:
  std::string type() const override { return "SoftmaxCrossEntropy"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    check_logits_labels(type(), in);
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    return {ctx.add(std::make_shared<SoftmaxXentBwdOp>(), backward_inputs(node, dy[0]), "bwd"),
            graph::kNoValue};
  }
  graph::SavedForBackward saved_for_backward() const override { return {{0, 1}, {}}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    auto fn = options.choice == KernelChoice::kFast ? kernels::softmax_xent_fwd_fast
                                                    : kernels::softmax_xent_fwd_ref;
    const int64_t n = in[0].shape[0], c = in[0].shape[1];
    return make_kernel([fn, n, c](const RunArgs& a) {
      fn(f32(a.inputs[0]), a.inputs[1].i32(), n, c, f32(a.outputs[0]));
    });
  }
};

// The losses of losses.h other than the fused one.
enum class LossKind { kCategorical, kSparseProbs, kBinary, kMeanSquared };

std::string loss_name(LossKind kind) {
  switch (kind) {
    case LossKind::kCategorical:
      return "CategoricalCrossentropy";
    case LossKind::kSparseProbs:
      return "SparseCategoricalCrossentropy";
    case LossKind::kBinary:
      return "BinaryCrossentropy";
    case LossKind::kMeanSquared:
      return "MeanSquaredError";
  }
  return "?";
}

// Checks (pred, target) for `kind`; throws Error(kInvalidArgument) naming the op and the shapes.
void check_loss_inputs(const std::string& op, LossKind kind, std::span<const TensorSpec> in) {
  if (kind == LossKind::kSparseProbs) {
    check_logits_labels(op, in);
    return;
  }
  const TensorSpec& pred = in[0];
  const TensorSpec& target = in[1];
  if (kind == LossKind::kCategorical) {
    check_f32(op, "prediction", pred, 2);
  } else {
    LT_CHECK(pred.dtype == DType::kF32 && pred.shape.rank() >= 1, kInvalidArgument, op,
             ": prediction must be an f32 tensor of rank >= 1, got ", dtype_name(pred.dtype), " ",
             pred.shape.to_string());
  }
  LT_CHECK(pred.shape.num_elements() >= 1, kInvalidArgument, op,
           ": prediction must not be empty, got ", pred.shape.to_string());
  LT_CHECK(target.dtype == DType::kF32 && target.shape == pred.shape, kInvalidArgument, op,
           ": target must be f32 of the prediction's shape ", pred.shape.to_string(), ", got ",
           dtype_name(target.dtype), " ", target.shape.to_string(),
           kind == LossKind::kCategorical
               ? " (for integer labels use sparse_categorical_cross_entropy)"
               : "");
}

class LossBwdOp final : public graph::Op {
 public:
  LossBwdOp(LossKind kind, bool from_logits) : kind_(kind), from_logits_(from_logits) {}
  std::string type() const override { return loss_name(kind_) + "Backward"; }
  // (pred, target[, diff_loss]) -> diff_pred.
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 3);
    check_loss_inputs(type(), kind_, in);
    check_diff_loss(type(), in, 2);
    return {in[0]};
  }
  int inplace_input() const override { return 0; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const bool fast = options.choice == KernelChoice::kFast;
    const bool logits = from_logits_;
    const Shape s = in[0].shape;
    switch (kind_) {
      case LossKind::kCategorical: {
        auto fn = fast ? kernels::categorical_xent_bwd_fast : kernels::categorical_xent_bwd_ref;
        return make_kernel([fn, logits, n = s[0], c = s[1]](const RunArgs& a) {
          fn(f32(a.inputs[0]), f32(a.inputs[1]), n, c, logits, diff_loss(a, 2), f32(a.outputs[0]));
        });
      }
      case LossKind::kSparseProbs: {
        auto fn = fast ? kernels::sparse_categorical_xent_probs_bwd_fast
                       : kernels::sparse_categorical_xent_probs_bwd_ref;
        return make_kernel([fn, n = s[0], c = s[1]](const RunArgs& a) {
          fn(f32(a.inputs[0]), a.inputs[1].i32(), n, c, diff_loss(a, 2), f32(a.outputs[0]));
        });
      }
      case LossKind::kBinary: {
        auto fn = fast ? kernels::binary_xent_bwd_fast : kernels::binary_xent_bwd_ref;
        return make_kernel([fn, logits, count = s.num_elements()](const RunArgs& a) {
          fn(f32(a.inputs[0]), f32(a.inputs[1]), count, logits, diff_loss(a, 2), f32(a.outputs[0]));
        });
      }
      case LossKind::kMeanSquared: {
        auto fn = fast ? kernels::mse_bwd_fast : kernels::mse_bwd_ref;
        return make_kernel([fn, count = s.num_elements()](const RunArgs& a) {
          fn(f32(a.inputs[0]), f32(a.inputs[1]), count, diff_loss(a, 2), f32(a.outputs[0]));
        });
      }
    }
    throw Error(ErrorCode::kInternal, type() + ": unknown loss kind");
  }

 private:
  LossKind kind_;
  bool from_logits_;
};

class LossOp final : public graph::Op {
 public:
  LossOp(LossKind kind, bool from_logits) : kind_(kind), from_logits_(from_logits) {}
  std::string type() const override { return loss_name(kind_); }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    check_loss_inputs(type(), kind_, in);
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    LT_CHECK(!ctx.needs_grad(1), kUnimplemented, type(), " '", node.name,
             "': its target depends on trainable weights, and targets get no gradient; compute "
             "the target outside the trained graph");
    return {ctx.add(std::make_shared<LossBwdOp>(kind_, from_logits_), backward_inputs(node, dy[0]),
                    "bwd"),
            graph::kNoValue};
  }
  graph::SavedForBackward saved_for_backward() const override { return {{0, 1}, {}}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const bool fast = options.choice == KernelChoice::kFast;
    const bool logits = from_logits_;
    const Shape s = in[0].shape;
    switch (kind_) {
      case LossKind::kCategorical: {
        auto fn = fast ? kernels::categorical_xent_fwd_fast : kernels::categorical_xent_fwd_ref;
        return make_kernel([fn, logits, n = s[0], c = s[1]](const RunArgs& a) {
          fn(f32(a.inputs[0]), f32(a.inputs[1]), n, c, logits, f32(a.outputs[0]));
        });
      }
      case LossKind::kSparseProbs: {
        auto fn = fast ? kernels::sparse_categorical_xent_probs_fwd_fast
                       : kernels::sparse_categorical_xent_probs_fwd_ref;
        return make_kernel([fn, n = s[0], c = s[1]](const RunArgs& a) {
          fn(f32(a.inputs[0]), a.inputs[1].i32(), n, c, f32(a.outputs[0]));
        });
      }
      case LossKind::kBinary: {
        auto fn = fast ? kernels::binary_xent_fwd_fast : kernels::binary_xent_fwd_ref;
        return make_kernel([fn, logits, count = s.num_elements()](const RunArgs& a) {
          fn(f32(a.inputs[0]), f32(a.inputs[1]), count, logits, f32(a.outputs[0]));
        });
      }
      case LossKind::kMeanSquared: {
        auto fn = fast ? kernels::mse_fwd_fast : kernels::mse_fwd_ref;
        return make_kernel([fn, count = s.num_elements()](const RunArgs& a) {
          fn(f32(a.inputs[0]), f32(a.inputs[1]), count, f32(a.outputs[0]));
        });
      }
    }
    throw Error(ErrorCode::kInternal, type() + ": unknown loss kind");
  }

 private:
  LossKind kind_;
  bool from_logits_;
};

class Top1CorrectOp final : public graph::Op {
 public:
  std::string type() const override { return "Top1Correct"; }
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 2, 2);
    check_logits_labels(type(), in);
    return {TensorSpec{Shape{1}, DType::kF32}};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions&) const override {
    const int64_t n = in[0].shape[0], c = in[0].shape[1];
    return make_kernel([n, c](const RunArgs& a) {
      kernels::sparse_top1_correct(f32(a.inputs[0]), a.inputs[1].i32(), n, c, f32(a.outputs[0]));
    });
  }
};

}  // namespace

OpPtr softmax_cross_entropy() { return std::make_shared<SoftmaxXentOp>(); }
OpPtr top1_correct() { return std::make_shared<Top1CorrectOp>(); }

OpPtr categorical_cross_entropy(bool from_logits) {
  return std::make_shared<LossOp>(LossKind::kCategorical, from_logits);
}
OpPtr sparse_categorical_cross_entropy(bool from_logits) {
  if (from_logits) return std::make_shared<SoftmaxXentOp>();
  return std::make_shared<LossOp>(LossKind::kSparseProbs, false);
}
OpPtr binary_cross_entropy(bool from_logits) {
  return std::make_shared<LossOp>(LossKind::kBinary, from_logits);
}
OpPtr mean_squared_error() { return std::make_shared<LossOp>(LossKind::kMeanSquared, false); }

}  // namespace leantrain::ops
