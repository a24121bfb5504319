// The BatchNormalization op's variant without the moving-statistics update (what a
// recomputation runs): the same output and batch statistics bit for bit as the training op,
// the moving statistics untouched, no mutated inputs; with the reference and the fast kernels.
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <vector>

#include "leantrain/graph/op.h"
#include "ops/ops.h"
#include "testing/testing.h"

namespace leantrain {
namespace {

using graph::KernelChoice;
using graph::TensorSpec;

// Inputs and outputs of one BatchNormalization run: src (6, 3, 5), channels 5.
struct BnRun {
  std::vector<float> src = testing::random_floats(6 * 3 * 5, 1);
  std::vector<float> gamma = testing::random_floats(5, 2, 0.5f, 1.5f);
  std::vector<float> beta = testing::random_floats(5, 3);
  std::vector<float> moving_mean = testing::random_floats(5, 4);
  std::vector<float> moving_var = testing::random_floats(5, 5, 0.5f, 2.0f);
  std::vector<float> dst = std::vector<float>(6 * 3 * 5, 0.0f);
  std::vector<float> mean = std::vector<float>(5, 0.0f), var = std::vector<float>(5, 0.0f);
};

void run(const graph::Op& op, KernelChoice choice, BnRun& r) {
  const Shape x{6, 3, 5}, c{5};
  const std::vector<TensorSpec> in = {{x}, {c}, {c}, {c}, {c}};
  const std::vector<TensorSpec> out = op.infer(in);
  ASSERT_EQ(out.size(), 3u);
  std::unique_ptr<graph::Kernel> k = op.compile(in, out, {.choice = choice});
  std::vector<std::byte> scratch(static_cast<size_t>(k->scratch_bytes()) + 64);
  const std::vector<TensorView> inputs = {
      TensorView(r.src.data(), x), TensorView(r.gamma.data(), c), TensorView(r.beta.data(), c),
      TensorView(r.moving_mean.data(), c), TensorView(r.moving_var.data(), c)};
  const std::vector<TensorView> outputs = {
      TensorView(r.dst.data(), x), TensorView(r.mean.data(), c), TensorView(r.var.data(), c)};
  const graph::StepState state;
  k->run({inputs, outputs, scratch.data(), &state});
}

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

TEST(BatchNormOpTest, VariantWithoutMovingUpdateGivesTheSameOutputAndKeepsTheStatistics) {
  for (const KernelChoice choice : {KernelChoice::kReference, KernelChoice::kFast}) {
    const ops::OpPtr training = ops::batch_norm(true, 0.9f, 1e-3f);
    const ops::OpPtr factory = ops::batch_norm(true, 0.9f, 1e-3f, false);
    const auto* recomputable = dynamic_cast<const graph::RecomputableOp*>(training.get());
    ASSERT_NE(recomputable, nullptr);
    const std::shared_ptr<const graph::Op> variant = recomputable->without_side_effects();
    EXPECT_EQ(training->mutated_inputs(), (std::vector<int>{3, 4}));
    EXPECT_TRUE(factory->mutated_inputs().empty());
    EXPECT_TRUE(variant->mutated_inputs().empty());
    EXPECT_EQ(variant->type(), training->type());

    BnRun updated;
    const BnRun initial = updated;
    run(*training, choice, updated);
    // The training op moved the statistics (Keras' rule: m * moving + (1 - m) * batch).
    EXPECT_FALSE(same_bits(updated.moving_mean, initial.moving_mean));
    EXPECT_FALSE(same_bits(updated.moving_var, initial.moving_var));
    for (const graph::Op* op : {variant.get(), factory.get()}) {
      BnRun kept = initial;
      run(*op, choice, kept);
      EXPECT_TRUE(same_bits(kept.dst, updated.dst));
      EXPECT_TRUE(same_bits(kept.mean, updated.mean));
      EXPECT_TRUE(same_bits(kept.var, updated.var));
      EXPECT_TRUE(same_bits(kept.moving_mean, initial.moving_mean));
      EXPECT_TRUE(same_bits(kept.moving_var, initial.moving_var));
    }
  }
}

}  // namespace
}  // namespace leantrain
