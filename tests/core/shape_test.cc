#include "leantrain/core/shape.h"

#include <gtest/gtest.h>

#include "leantrain/core/error.h"

namespace leantrain {
namespace {

TEST(ShapeTest, CountsElementsAndPrintsLikeKeras) {
  Shape s{128, 26, 26, 32};
  EXPECT_EQ(s.rank(), 4);
  EXPECT_EQ(s.num_elements(), 128 * 26 * 26 * 32);
  EXPECT_EQ(s.to_string(), "(128, 26, 26, 32)");
  EXPECT_EQ(s.to_string(/*batch_as_none=*/true), "(None, 26, 26, 32)");
  EXPECT_EQ(Shape{10}.to_string(), "(10,)");
  EXPECT_EQ(Shape{}.num_elements(), 1);
}

TEST(ShapeTest, RejectsNegativeAndTooManyDimensions) {
  EXPECT_THROW((Shape{2, -1}), Error);
  EXPECT_THROW((Shape{1, 1, 1, 1, 1, 1, 1}), Error);
}

TEST(ShapeTest, ReplacesBatch) {
  EXPECT_EQ(Shape({128, 10}).with_batch(96), Shape({96, 10}));
  EXPECT_EQ(Shape({128, 10}).dim(-1), 10);
}

}  // namespace
}  // namespace leantrain
