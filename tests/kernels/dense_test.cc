// Dense: reference kernels against central differences, and DenseDnnl (both its matmul and
// inner-product forms) against the reference, inside guard bytes.
#include "kernels/dense.h"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

#include "leantrain/core/error.h"
#include "testing/kernel_testing.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::garbage_scratch;
using testing::GuardedBuffer;
using testing::GuardedFloats;
using testing::matches_reference;
using testing::OwnedTensor;

struct DenseCase {
  std::string name;
  int64_t batch, in, out;
  bool bias = true;
};

// Names the case in gtest messages instead of dumping its bytes.
void PrintTo(const DenseCase& c, std::ostream* os) { *os << c.name; }

std::vector<DenseCase> small_cases() {
  return {{"1x1x1", 1, 1, 1}, {"1x1x1_no_bias", 1, 1, 1, false},
          {"2x5x3", 2, 5, 3}, {"3x7x1_no_bias", 3, 7, 1, false},
          {"1x9x4", 1, 9, 4}, {"5x3x7", 5, 3, 7}};
}

std::vector<DenseCase> large_cases() {
  return {{"cnn_dense_1600_128", 128, 1600, 128},
          {"cnn_dense_128_10", 128, 128, 10},
          {"odd_33x257x65_no_bias", 33, 257, 65, false}};
}

class DenseRefGradientTest : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseRefGradientTest, MatchesCentralDifferences) {
  const DenseCase& c = GetParam();
  OwnedTensor src(Shape{c.batch, c.in}, 61), weights(Shape{c.in, c.out}, 62),
      bias(Shape{c.out}, 63), dst(Shape{c.batch, c.out});
  const std::vector<float> lw = testing::loss_weights(dst.shape.num_elements(), 64);
  const TensorView bias_view = c.bias ? bias.view() : TensorView();
  auto loss = [&] {
    dense_fwd_ref(src.view(), weights.view(), bias_view, dst.view());
    return testing::weighted_sum(dst.values, lw);
  };

  std::vector<float> diff_dst = lw;
  const TensorView diff_dst_view(diff_dst.data(), dst.shape);
  OwnedTensor diff_src(src.shape), diff_weights(weights.shape), diff_bias(bias.shape);
  dense_bwd_data_ref(diff_dst_view, weights.view(), diff_src.view());
  dense_bwd_weights_ref(src.view(), diff_dst_view, diff_weights.view(),
                        c.bias ? diff_bias.view() : TensorView());

  std::vector<std::vector<float>*> inputs = {&src.values, &weights.values};
  std::vector<std::vector<float>> analytic = {diff_src.values, diff_weights.values};
  if (c.bias) {
    inputs.push_back(&bias.values);
    analytic.push_back(diff_bias.values);
  }
  EXPECT_TRUE(testing::gradient_check(loss, inputs, analytic));
}

INSTANTIATE_TEST_SUITE_P(Shapes, DenseRefGradientTest, ::testing::ValuesIn(small_cases()),
                         [](const auto& info) { return info.param.name; });

TEST(DenseRefTest, ComputesHandWorkedExample) {
  // x (1, 2) = [1, 2]; W (2, 3) = [[1, 2, 3], [4, 5, 6]]; b = [0.5, 0, -1].
  std::vector<float> x = {1, 2}, w = {1, 2, 3, 4, 5, 6}, b = {0.5f, 0, -1}, y(3, 0.f);
  dense_fwd_ref(TensorView(x.data(), Shape{1, 2}), TensorView(w.data(), Shape{2, 3}),
                TensorView(b.data(), Shape{3}), TensorView(y.data(), Shape{1, 3}));
  EXPECT_EQ(y, (std::vector<float>{9.5f, 12, 14}));
}

TEST(DenseRefTest, RejectsInconsistentShapes) {
  std::vector<float> buffer(64, 1.f);
  EXPECT_THROW(
      dense_fwd_ref(TensorView(buffer.data(), Shape{2, 3}), TensorView(buffer.data(), Shape{4, 5}),
                    TensorView(), TensorView(buffer.data(), Shape{2, 5})),
      Error);
  EXPECT_THROW(
      dense_fwd_ref(TensorView(buffer.data(), Shape{2, 3}), TensorView(buffer.data(), Shape{3, 5}),
                    TensorView(buffer.data(), Shape{3}), TensorView(buffer.data(), Shape{2, 5})),
      Error);
  EXPECT_THROW(DenseDnnl(0, 3, 5, true, kDefaultDenseImpl), Error);
}

void expect_dnnl_matches_reference(const DenseCase& c, DenseImpl impl) {
  SCOPED_TRACE("implementation " + to_string(impl));
  OwnedTensor src(Shape{c.batch, c.in}, 71), weights(Shape{c.in, c.out}, 72),
      bias(Shape{c.out}, 73), diff_dst(Shape{c.batch, c.out}, 74);
  const DenseDnnl k(c.batch, c.in, c.out, c.bias, impl);

  {  // Forward.
    OwnedTensor expected(diff_dst.shape);
    dense_fwd_ref(src.view(), weights.view(), c.bias ? bias.view() : TensorView(), expected.view());
    GuardedBuffer scratch = garbage_scratch(k.fwd_scratch_bytes());
    GuardedFloats dst(expected.shape.num_elements());
    k.fwd(src.data(), weights.data(), c.bias ? bias.data() : nullptr, dst.data(), scratch.data());
    EXPECT_TRUE(matches_reference(dst.values(), expected.values)) << "forward";
    EXPECT_TRUE(scratch.guards_intact()) << "forward scratch";
    EXPECT_TRUE(dst.buffer.guards_intact()) << "forward dst";
  }
  {  // Backward data.
    OwnedTensor expected(src.shape);
    dense_bwd_data_ref(diff_dst.view(), weights.view(), expected.view());
    GuardedBuffer scratch = garbage_scratch(k.bwd_data_scratch_bytes());
    GuardedFloats diff_src(expected.shape.num_elements());
    k.bwd_data(diff_dst.data(), weights.data(), diff_src.data(), scratch.data());
    EXPECT_TRUE(matches_reference(diff_src.values(), expected.values)) << "backward data";
    EXPECT_TRUE(scratch.guards_intact()) << "backward data scratch";
    EXPECT_TRUE(diff_src.buffer.guards_intact()) << "backward data diff_src";
  }
  {  // Backward weights.
    OwnedTensor expected_weights(weights.shape), expected_bias(bias.shape);
    dense_bwd_weights_ref(src.view(), diff_dst.view(), expected_weights.view(),
                          c.bias ? expected_bias.view() : TensorView());
    GuardedBuffer scratch = garbage_scratch(k.bwd_weights_scratch_bytes());
    GuardedFloats diff_weights(expected_weights.shape.num_elements()), diff_bias(c.out);
    k.bwd_weights(src.data(), diff_dst.data(), diff_weights.data(),
                  c.bias ? diff_bias.data() : nullptr, scratch.data());
    EXPECT_TRUE(matches_reference(diff_weights.values(), expected_weights.values))
        << "backward weights";
    if (c.bias) {
      EXPECT_TRUE(matches_reference(diff_bias.values(), expected_bias.values)) << "backward bias";
    }
    EXPECT_TRUE(scratch.guards_intact()) << "backward weights scratch";
    EXPECT_TRUE(diff_weights.buffer.guards_intact()) << "backward weights diff_weights";
    EXPECT_TRUE(diff_bias.buffer.guards_intact()) << "backward weights diff_bias";
  }
}

class DenseDnnlTest : public ::testing::TestWithParam<DenseCase> {};

TEST_P(DenseDnnlTest, MatchesReferenceWithDefaultImplementation) {
  expect_dnnl_matches_reference(GetParam(), kDefaultDenseImpl);
}

TEST_P(DenseDnnlTest, MatchesReferenceWithMatmul) {
  expect_dnnl_matches_reference(GetParam(), DenseImpl::kMatmul);
}

TEST_P(DenseDnnlTest, MatchesReferenceWithInnerProduct) {
  expect_dnnl_matches_reference(GetParam(), DenseImpl::kInnerProduct);
}

INSTANTIATE_TEST_SUITE_P(Small, DenseDnnlTest, ::testing::ValuesIn(small_cases()),
                         [](const auto& info) { return info.param.name; });
INSTANTIATE_TEST_SUITE_P(Large, DenseDnnlTest, ::testing::ValuesIn(large_cases()),
                         [](const auto& info) { return info.param.name; });

}  // namespace
}  // namespace leantrain::kernels
