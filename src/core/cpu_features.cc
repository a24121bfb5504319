#include "leantrain/core/cpu_features.h"

#if defined(__x86_64__)
#include <cpuid.h>
#endif

#include "leantrain/core/error.h"

namespace leantrain {
namespace {

bool bit(uint64_t word, int b) { return ((word >> b) & 1u) != 0; }

}  // namespace

CpuidWords read_cpuid_words() {
  CpuidWords w;
#if defined(__x86_64__)
  unsigned a = 0, b = 0, c = 0, d = 0;
  // __get_cpuid_max returns unsigned int in GCC's cpuid.h and int in clang's.
  const auto max_leaf = static_cast<unsigned>(__get_cpuid_max(0, nullptr));
  if (max_leaf >= 1 && __get_cpuid(1, &a, &b, &c, &d)) w.leaf1_ecx = c;
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    w.leaf7_ebx = b;
    w.leaf7_edx = d;
    if (a >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      w.leaf7_1_eax = a;
    }
  }
  if (static_cast<unsigned>(__get_cpuid_max(0x80000000u, nullptr)) >= 0x80000001u &&
      __get_cpuid(0x80000001u, &a, &b, &c, &d)) {
    w.ext1_ecx = c;
  }
  if (bit(w.leaf1_ecx, 27)) {  // OSXSAVE: XGETBV is allowed
    uint32_t lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    w.xcr0 = (static_cast<uint64_t>(hi) << 32) | lo;
  }
#endif
  return w;
}

std::vector<CpuFeature> x86_64_v3_features(const CpuidWords& w) {
  const bool avx_state = bit(w.leaf1_ecx, 27) && (w.xcr0 & 0x6u) == 0x6u;
  return {
      // x86-64-v2
      {"CMPXCHG16B", bit(w.leaf1_ecx, 13)},
      {"LAHF/SAHF", bit(w.ext1_ecx, 0)},
      {"POPCNT", bit(w.leaf1_ecx, 23)},
      {"SSE3", bit(w.leaf1_ecx, 0)},
      {"SSE4.1", bit(w.leaf1_ecx, 19)},
      {"SSE4.2", bit(w.leaf1_ecx, 20)},
      {"SSSE3", bit(w.leaf1_ecx, 9)},
      // x86-64-v3
      {"AVX", bit(w.leaf1_ecx, 28) && avx_state},
      {"AVX2", bit(w.leaf7_ebx, 5) && avx_state},
      {"BMI1", bit(w.leaf7_ebx, 3)},
      {"BMI2", bit(w.leaf7_ebx, 8)},
      {"F16C", bit(w.leaf1_ecx, 29)},
      {"FMA", bit(w.leaf1_ecx, 12)},
      {"LZCNT", bit(w.ext1_ecx, 5)},
      {"MOVBE", bit(w.leaf1_ecx, 22)},
      {"XSAVE (OSXSAVE)", bit(w.leaf1_ecx, 27)},
  };
}

std::vector<std::string> missing_kernel_features(const CpuidWords& words) {
  std::vector<std::string> missing;
  for (const CpuFeature& f : x86_64_v3_features(words)) {
    if (!f.present) missing.emplace_back(f.name);
  }
  return missing;
}

CpuExtras cpu_extras(const CpuidWords& w) {
  // AVX-512 needs the OS to save the opmask and upper ZMM state too (XCR0 bits 5-7).
  const bool avx512_state = bit(w.leaf1_ecx, 27) && (w.xcr0 & 0xe6u) == 0xe6u;
  const bool amx_state = (w.xcr0 & 0x60000u) == 0x60000u;  // XTILECFG, XTILEDATA
  return {.avx512f = bit(w.leaf7_ebx, 16) && avx512_state,
          .avx512_bf16 = bit(w.leaf7_ebx, 16) && bit(w.leaf7_1_eax, 5) && avx512_state,
          .amx_bf16 = bit(w.leaf7_edx, 22) && amx_state};
}

std::string missing_features_message(const std::vector<std::string>& missing) {
  std::string names;
  for (const std::string& m : missing) names += (names.empty() ? "" : ", ") + m;
  return "this CPU lacks " + names +
         ", which leantrain's kernels were compiled for (x86-64-v3: AVX2, FMA, BMI1/2, F16C, "
         "LZCNT, MOVBE); run it on an x86-64 CPU with AVX2 and FMA (Intel Haswell or AMD Zen and "
         "later), or under a hypervisor that passes those features through";
}

void require_kernel_cpu_features() {
  static const std::vector<std::string> missing = missing_kernel_features(read_cpuid_words());
  if (!missing.empty()) throw Error(ErrorCode::kUnimplemented, missing_features_message(missing));
}

}  // namespace leantrain
