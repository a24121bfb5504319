#include "leantrain/core/cpu_features.h"

#include <gtest/gtest.h>

#include "leantrain/core/error.h"

namespace leantrain {
namespace {

// The words of a CPU with every x86-64-v3 feature and AVX state enabled by the OS.
CpuidWords full_v3() {
  CpuidWords w;
  for (int b : {0, 9, 12, 13, 19, 20, 22, 23, 27, 28, 29}) w.leaf1_ecx |= 1u << b;
  for (int b : {3, 5, 8}) w.leaf7_ebx |= 1u << b;
  for (int b : {0, 5}) w.ext1_ecx |= 1u << b;
  w.xcr0 = 0x7;
  return w;
}

TEST(CpuFeaturesTest, FullX86_64V3LacksNothing) {
  EXPECT_TRUE(missing_kernel_features(full_v3()).empty());
}

TEST(CpuFeaturesTest, NamesEachMissingFeature) {
  CpuidWords w = full_v3();
  w.leaf7_ebx &= ~(1u << 5);   // AVX2
  w.leaf1_ecx &= ~(1u << 12);  // FMA
  EXPECT_EQ(missing_kernel_features(w), (std::vector<std::string>{"AVX2", "FMA"}));
}

TEST(CpuFeaturesTest, AvxWithoutOsSupportIsMissing) {
  CpuidWords w = full_v3();
  w.xcr0 = 0x3;  // the OS saves SSE state but not AVX's
  EXPECT_EQ(missing_kernel_features(w), (std::vector<std::string>{"AVX", "AVX2"}));
}

TEST(CpuFeaturesTest, MessageNamesTheFeatureAndWhatWouldWork) {
  const std::string m = missing_features_message({"AVX2"});
  EXPECT_NE(m.find("lacks AVX2"), std::string::npos) << m;
  EXPECT_NE(m.find("x86-64-v3"), std::string::npos) << m;
}

TEST(CpuFeaturesTest, Avx512Bf16NeedsAvx512State) {
  CpuidWords w = full_v3();
  w.leaf7_ebx |= 1u << 16;   // AVX-512F
  w.leaf7_1_eax |= 1u << 5;  // AVX512-BF16
  EXPECT_FALSE(cpu_extras(w).avx512_bf16);
  w.xcr0 = 0xe7;
  EXPECT_TRUE(cpu_extras(w).avx512f);
  EXPECT_TRUE(cpu_extras(w).avx512_bf16);
  EXPECT_FALSE(cpu_extras(w).amx_bf16);
}

// The machine running the tests runs the kernels (every other test needs it), so this holds
// wherever the suite can pass at all; it checks that the real CPUID reading agrees.
TEST(CpuFeaturesTest, ThisMachineRunsTheKernels) {
  EXPECT_TRUE(missing_kernel_features(read_cpuid_words()).empty());
  EXPECT_NO_THROW(require_kernel_cpu_features());
}

}  // namespace
}  // namespace leantrain
