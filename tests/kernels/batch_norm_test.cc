#include "kernels/batch_norm.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "leantrain/core/error.h"
#include "testing/testing.h"

namespace leantrain::kernels {
namespace {

using testing::all_close;
using testing::GuardedBuffer;
using testing::OwnedTensor;

constexpr float kKerasEpsilon = 1e-3f;  // BatchNormalization's default
constexpr float kKerasMomentum = 0.99f;

TEST(BatchNormTest, TrainingForwardByHand) {
  // (4, 2): channel 0 holds 1, 2, 3, 6 (mean 3, biased variance (4+1+0+9)/4 = 3.5);
  // channel 1 holds 5 everywhere (mean 5, variance 0).
  OwnedTensor src(Shape{4, 2});
  src.values = {1, 5, 2, 5, 3, 5, 6, 5};
  OwnedTensor gamma(Shape{2}), beta(Shape{2}), dst(Shape{4, 2}), mean(Shape{2}), var(Shape{2});
  gamma.values = {2.0f, 3.0f};
  beta.values = {0.5f, -1.0f};
  batch_norm_fwd_training_ref(src.view(), gamma.view(), beta.view(), kKerasEpsilon, dst.view(),
                              mean.view(), var.view());
  EXPECT_FLOAT_EQ(mean.values[0], 3.0f);
  EXPECT_FLOAT_EQ(var.values[0], 3.5f);
  EXPECT_FLOAT_EQ(mean.values[1], 5.0f);
  EXPECT_FLOAT_EQ(var.values[1], 0.0f);
  const double inv_std = 1.0 / std::sqrt(3.5 + 1e-3);
  EXPECT_NEAR(dst.values[0], 2.0 * (1 - 3) * inv_std + 0.5, 1e-6);
  EXPECT_NEAR(dst.values[6], 2.0 * (6 - 3) * inv_std + 0.5, 1e-6);
  EXPECT_NEAR(dst.values[1], -1.0, 1e-6);  // x == mean: beta
}

TEST(BatchNormTest, InferenceForwardUsesMovingStatistics) {
  OwnedTensor src(Shape{1, 5, 7, 3}, 1, -1.0f, 3.0f);
  OwnedTensor gamma(Shape{3}, 2, 0.5f, 1.5f), beta(Shape{3}, 3);
  OwnedTensor moving_mean(Shape{3}, 4), moving_var(Shape{3}, 5, 0.1f, 2.0f);
  OwnedTensor dst(src.shape);
  batch_norm_fwd_inference_ref(src.view(), gamma.view(), beta.view(), moving_mean.view(),
                               moving_var.view(), kKerasEpsilon, dst.view());
  for (int64_t i = 0; i < src.shape.num_elements(); ++i) {
    const size_t c = static_cast<size_t>(i % 3);
    const double expected =
        gamma.values[c] *
            (src.values[static_cast<size_t>(i)] - static_cast<double>(moving_mean.values[c])) /
            std::sqrt(moving_var.values[c] + 1e-3) +
        beta.values[c];
    ASSERT_NEAR(dst.values[static_cast<size_t>(i)], expected, 1e-6 * std::fabs(expected) + 1e-6)
        << i;
  }
}

TEST(BatchNormTest, UpdateMovingFollowsKerasMomentum) {
  OwnedTensor batch_mean(Shape{2}), batch_var(Shape{2}), moving_mean(Shape{2}),
      moving_var(Shape{2});
  batch_mean.values = {2.0f, -1.0f};
  batch_var.values = {4.0f, 0.5f};
  moving_mean.values = {0.5f, 0.0f};  // Keras initializes moving_mean to 0 and moving_var to 1
  moving_var.values = {1.0f, 1.0f};
  batch_norm_update_moving(batch_mean.view(), batch_var.view(), kKerasMomentum, moving_mean.view(),
                           moving_var.view());
  // 0.5 * 0.99 + 2 * 0.01 = 0.515; 0 * 0.99 - 0.01 = -0.01; 0.99 + 0.04 = 1.03; 0.99 + 0.005.
  EXPECT_NEAR(moving_mean.values[0], 0.515, 1e-7);
  EXPECT_NEAR(moving_mean.values[1], -0.01, 1e-7);
  EXPECT_NEAR(moving_var.values[0], 1.03, 1e-7);
  EXPECT_NEAR(moving_var.values[1], 0.995, 1e-7);
}

TEST(BatchNormTest, ReferenceTrainingGradientMatchesFiniteDifferences) {
  // Batch 1 on a 1x1 image (one row: the output is beta), 3 rows, a 5x7 image, rank 3.
  for (const Shape& shape :
       {Shape{1, 1, 1, 3}, Shape{3, 1, 1, 5}, Shape{1, 5, 7, 3}, Shape{2, 3, 5}}) {
    SCOPED_TRACE(shape.to_string());
    const int64_t channels = shape.dim(-1);
    OwnedTensor src(shape, 1, -1.0f, 3.0f);
    OwnedTensor gamma(Shape{channels}, 2, 0.5f, 1.5f), beta(Shape{channels}, 3);
    OwnedTensor dst(shape), mean(Shape{channels}), var(Shape{channels});
    const std::vector<float> w = testing::loss_weights(shape.num_elements(), 4);
    auto loss = [&] {
      batch_norm_fwd_training_ref(src.view(), gamma.view(), beta.view(), kKerasEpsilon, dst.view(),
                                  mean.view(), var.view());
      return testing::weighted_sum(dst.values, w);
    };
    loss();
    OwnedTensor dd(shape), diff_src(shape), diff_gamma(Shape{channels}), diff_beta(Shape{channels});
    dd.values = w;
    batch_norm_bwd_ref(src.view(), dd.view(), gamma.view(), mean.view(), var.view(), kKerasEpsilon,
                       diff_src.view(), diff_gamma.view(), diff_beta.view());
    EXPECT_TRUE(testing::gradient_check(loss, {&src.values, &gamma.values, &beta.values},
                                        {diff_src.values, diff_gamma.values, diff_beta.values}));
  }
}

TEST(BatchNormTest, DnnlRejectsEmptyShapes) {
  try {
    BatchNormDnnl bad(0, 3, kKerasEpsilon);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
  }
}

// A float tensor in a guarded buffer.
struct Guarded {
  explicit Guarded(int64_t n) : buf(n * 4), n(n) {}
  float* data() { return static_cast<float*>(buf.data()); }
  GuardedBuffer buf;
  int64_t n;
};

void expect_close(Guarded& actual, const std::vector<float>& expected, double rtol, double atol) {
  EXPECT_TRUE(all_close(actual.data(), expected.data(), actual.n, rtol, atol));
  EXPECT_TRUE(actual.buf.guards_intact());
}

TEST(BatchNormTest, DnnlMatchesReference) {
  for (const Shape& shape : {Shape{1, 1, 1, 3}, Shape{2, 5, 7, 3}, Shape{1, 5, 7, 5}, Shape{3, 5},
                             Shape{32, 56, 56, 24}}) {
    SCOPED_TRACE(shape.to_string());
    const int64_t channels = shape.dim(-1), rows = shape.num_elements() / channels;
    const Shape cs{channels};
    OwnedTensor src(shape, 11, -1.0f, 3.0f), dd(shape, 12);
    OwnedTensor gamma(cs, 13, 0.5f, 1.5f), beta(cs, 14);
    OwnedTensor moving_mean(cs, 15), moving_var(cs, 16, 0.1f, 2.0f);

    OwnedTensor dst(shape), mean(cs), var(cs), inference(shape);
    OwnedTensor diff_src(shape), diff_gamma(cs), diff_beta(cs);
    batch_norm_fwd_training_ref(src.view(), gamma.view(), beta.view(), kKerasEpsilon, dst.view(),
                                mean.view(), var.view());
    batch_norm_fwd_inference_ref(src.view(), gamma.view(), beta.view(), moving_mean.view(),
                                 moving_var.view(), kKerasEpsilon, inference.view());
    batch_norm_bwd_ref(src.view(), dd.view(), gamma.view(), mean.view(), var.view(), kKerasEpsilon,
                       diff_src.view(), diff_gamma.view(), diff_beta.view());

    const BatchNormDnnl bn(rows, channels, kKerasEpsilon);
    GuardedBuffer train_scratch(bn.fwd_training_scratch_bytes());
    GuardedBuffer infer_scratch(bn.fwd_inference_scratch_bytes());
    GuardedBuffer bwd_scratch(bn.bwd_scratch_bytes());
    Guarded d_dst(shape.num_elements()), d_mean(channels), d_var(channels);
    bn.fwd_training(src.data(), gamma.data(), beta.data(), d_dst.data(), d_mean.data(),
                    d_var.data(), train_scratch.data());
    expect_close(d_dst, dst.values, 1e-4, 1e-4);
    expect_close(d_mean, mean.values, 1e-5, 1e-6);
    expect_close(d_var, var.values, 1e-4, 1e-6);  // the biased variance, as the reference
    EXPECT_TRUE(train_scratch.guards_intact());

    Guarded d_inference(shape.num_elements());
    bn.fwd_inference(src.data(), gamma.data(), beta.data(), moving_mean.data(), moving_var.data(),
                     d_inference.data(), infer_scratch.data());
    expect_close(d_inference, inference.values, 1e-5, 1e-5);
    EXPECT_TRUE(infer_scratch.guards_intact());

    Guarded d_diff_src(shape.num_elements()), d_diff_gamma(channels), d_diff_beta(channels);
    bn.bwd(src.data(), dd.data(), gamma.data(), mean.data(), var.data(), d_diff_src.data(),
           d_diff_gamma.data(), d_diff_beta.data(), bwd_scratch.data());
    expect_close(d_diff_src, diff_src.values, 1e-3, 1e-5);
    expect_close(d_diff_gamma, diff_gamma.values, 1e-4, 1e-3);
    expect_close(d_diff_beta, diff_beta.values, 1e-4, 1e-3);
    EXPECT_TRUE(bwd_scratch.guards_intact());
  }
}

}  // namespace
}  // namespace leantrain::kernels
