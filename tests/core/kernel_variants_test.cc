#include "leantrain/core/kernel_variants.h"

#include <gtest/gtest.h>

#include <string>

#include "leantrain/core/error.h"

namespace leantrain {
namespace {

TEST(KernelVariantsTest, ParsesTheNamesToStringPrints) {
  for (ConvWeightsLayout layout : {ConvWeightsLayout::kAny, ConvWeightsLayout::kPlain}) {
    EXPECT_EQ(parse_conv_weights_layout(to_string(layout)), layout);
  }
  for (DenseImpl impl : {DenseImpl::kMatmul, DenseImpl::kInnerProduct}) {
    EXPECT_EQ(parse_dense_impl(to_string(impl)), impl);
  }
  EXPECT_EQ(parse_conv_weights_layout("plain"), ConvWeightsLayout::kPlain);
  EXPECT_EQ(parse_dense_impl("inner_product"), DenseImpl::kInnerProduct);
}

TEST(KernelVariantsTest, AnUnknownNameIsAnErrorNamingItAndTheAcceptedOnes) {
  try {
    parse_conv_weights_layout("blocked");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'blocked' is not supported; use any or plain"),
              std::string::npos)
        << e.what();
  }
  try {
    parse_dense_impl("Matmul");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument);
    EXPECT_NE(std::string(e.what()).find("'Matmul' is not supported; use matmul or inner_product"),
              std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace leantrain
