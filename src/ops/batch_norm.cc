// BatchNormalization: training forward (batch statistics, moving-average update), inference
// forward (moving statistics) and backward; and the training forward without the moving-average
// update that a recomputation runs.
#include "kernels/batch_norm.h"
#include "leantrain/graph/op.h"
#include "ops/op_util.h"
#include "ops/ops.h"

namespace leantrain::ops {
namespace {

using graph::KernelChoice;
using graph::KernelOptions;
using graph::RunArgs;
using graph::TensorSpec;

int64_t rows_of(const Shape& s) { return s.num_elements() / s.dim(-1); }

class BatchNormBwdOp final : public graph::Op {
 public:
  explicit BatchNormBwdOp(float epsilon) : epsilon_(epsilon) {}
  std::string type() const override { return "BatchNormalizationBackward"; }
  // (src, diff_dst, gamma, batch_mean, batch_var) -> (diff_src, diff_gamma, diff_beta)
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 5, 5);
    return {in[0], in[2], in[2]};
  }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const float eps = epsilon_;
    if (options.choice == KernelChoice::kReference) {
      return make_kernel([eps](const RunArgs& a) {
        kernels::batch_norm_bwd_ref(a.inputs[0], a.inputs[1], a.inputs[2], a.inputs[3], a.inputs[4],
                                    eps, a.outputs[0], a.outputs[1], a.outputs[2]);
      });
    }
    auto k =
        std::make_shared<kernels::BatchNormDnnl>(rows_of(in[0].shape), in[0].shape.dim(-1), eps);
    return make_kernel(
        [k](const RunArgs& a) {
          k->bwd(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.inputs[2]), f32(a.inputs[3]),
                 f32(a.inputs[4]), f32(a.outputs[0]), f32(a.outputs[1]), f32(a.outputs[2]),
                 a.scratch);
        },
        k->bwd_scratch_bytes());
  }

 private:
  float epsilon_;
};

class BatchNormOp final : public graph::Op, public graph::RecomputableOp {
 public:
  BatchNormOp(bool training, float momentum, float epsilon, bool update_moving)
      : training_(training),
        update_moving_(training && update_moving),
        momentum_(momentum),
        epsilon_(epsilon) {}
  std::string type() const override { return "BatchNormalization"; }
  // (src, gamma, beta, moving_mean, moving_variance)
  std::vector<TensorSpec> infer(std::span<const TensorSpec> in) const override {
    check_arity(type(), in, 5, 5);
    LT_CHECK(in[0].shape.rank() >= 2 && in[0].dtype == DType::kF32, kInvalidArgument,
             "BatchNormalization: input must be f32 with rank >= 2, got ", in[0].shape.to_string());
    const int64_t c = in[0].shape.dim(-1);
    for (size_t i = 1; i < 5; ++i) {
      LT_CHECK(in[i].shape == Shape{c}, kInvalidArgument, "BatchNormalization: statistics ",
               "and scale must have shape (", c, ",), got ", in[i].shape.to_string());
    }
    if (!training_) return {in[0]};
    return {in[0], in[1], in[1]};
  }
  std::vector<int> mutated_inputs() const override {
    return update_moving_ ? std::vector<int>{3, 4} : std::vector<int>{};
  }
  // The same batch statistics and output; the moving statistics are read by nobody and kept.
  std::shared_ptr<const graph::Op> without_side_effects() const override {
    return std::make_shared<BatchNormOp>(training_, momentum_, epsilon_, false);
  }
  std::vector<graph::ValueId> gradient(graph::GradContext& ctx, const graph::Node& node,
                                       std::span<const graph::ValueId> dy) const override {
    LT_CHECK(training_, kInternal, "inference BatchNormalization has no gradient");
    auto d = ctx.add_node(std::make_shared<BatchNormBwdOp>(epsilon_),
                          {node.inputs[0], dy[0], node.inputs[1], node.outputs[1], node.outputs[2]},
                          "bwd");
    return {d[0], d[1], d[2], graph::kNoValue, graph::kNoValue};
  }
  graph::SavedForBackward saved_for_backward() const override { return {{0}, {1, 2}}; }
  std::unique_ptr<graph::Kernel> compile(std::span<const TensorSpec> in,
                                         std::span<const TensorSpec>,
                                         const KernelOptions& options) const override {
    const float eps = epsilon_, momentum = momentum_;
    const bool update = update_moving_;
    if (options.choice == KernelChoice::kReference) {
      if (!training_) {
        return make_kernel([eps](const RunArgs& a) {
          kernels::batch_norm_fwd_inference_ref(a.inputs[0], a.inputs[1], a.inputs[2], a.inputs[3],
                                                a.inputs[4], eps, a.outputs[0]);
        });
      }
      return make_kernel([eps, momentum, update](const RunArgs& a) {
        kernels::batch_norm_fwd_training_ref(a.inputs[0], a.inputs[1], a.inputs[2], eps,
                                             a.outputs[0], a.outputs[1], a.outputs[2]);
        if (update) {
          kernels::batch_norm_update_moving(a.outputs[1], a.outputs[2], momentum, a.inputs[3],
                                            a.inputs[4]);
        }
      });
    }
    auto k =
        std::make_shared<kernels::BatchNormDnnl>(rows_of(in[0].shape), in[0].shape.dim(-1), eps);
    if (!training_) {
      return make_kernel(
          [k](const RunArgs& a) {
            k->fwd_inference(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.inputs[2]), f32(a.inputs[3]),
                             f32(a.inputs[4]), f32(a.outputs[0]), a.scratch);
          },
          k->fwd_inference_scratch_bytes());
    }
    return make_kernel(
        [k, momentum, update](const RunArgs& a) {
          k->fwd_training(f32(a.inputs[0]), f32(a.inputs[1]), f32(a.inputs[2]), f32(a.outputs[0]),
                          f32(a.outputs[1]), f32(a.outputs[2]), a.scratch);
          if (update) {
            kernels::batch_norm_update_moving(a.outputs[1], a.outputs[2], momentum, a.inputs[3],
                                              a.inputs[4]);
          }
        },
        k->fwd_training_scratch_bytes());
  }

 private:
  bool training_;
  bool update_moving_;  // training only: write the moving statistics (not in a recomputation)
  float momentum_;
  float epsilon_;
};

}  // namespace

OpPtr batch_norm(bool training, float momentum, float epsilon, bool update_moving_statistics) {
  LT_CHECK(momentum >= 0.0f && momentum <= 1.0f, kInvalidArgument,
           "BatchNormalization: momentum must be in [0, 1], got ", momentum);
  LT_CHECK(epsilon > 0.0f, kInvalidArgument, "BatchNormalization: epsilon must be > 0, got ",
           epsilon);
  return std::make_shared<BatchNormOp>(training, momentum, epsilon, update_moving_statistics);
}

}  // namespace leantrain::ops
