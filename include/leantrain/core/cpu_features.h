// The x86-64 instruction-set features of the machine we run on, read at run time (CPUID and, for
// the AVX register state, XGETBV), and the start-up check that the kernels can run here: they are
// compiled for x86-64-v3 (-march=x86-64-v3: AVX2, FMA, BMI1/2, F16C, LZCNT, MOVBE on top of
// x86-64-v2's SSE4.2 and POPCNT), and on a CPU without one of those features they would die of an
// illegal instruction at the first step instead of saying what is missing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace leantrain {

// The raw CPUID words the features are read from, and XCR0 (the register state the operating
// system saves: AVX needs the SSE and AVX bits). Zero where the CPU does not have the leaf.
struct CpuidWords {
  uint32_t leaf1_ecx = 0;    // CPUID(1).ECX: SSE3, SSSE3, FMA, SSE4.1/4.2, MOVBE, POPCNT, AVX...
  uint32_t leaf7_ebx = 0;    // CPUID(7, 0).EBX: BMI1, AVX2, BMI2, AVX-512F
  uint32_t leaf7_edx = 0;    // CPUID(7, 0).EDX: AMX-BF16
  uint32_t leaf7_1_eax = 0;  // CPUID(7, 1).EAX: AVX512-BF16
  uint32_t ext1_ecx = 0;     // CPUID(0x80000001).ECX: LAHF/SAHF, LZCNT
  uint64_t xcr0 = 0;         // XGETBV(0), when the OS enabled XSAVE (OSXSAVE)
};

// This machine's words (CPUID and XGETBV; all zero on a non-x86 build).
CpuidWords read_cpuid_words();

// One feature: its usual name ("AVX2") and whether the words have it.
struct CpuFeature {
  const char* name;
  bool present;
};

// x86-64-v3's features (v2's included) as `words` report them, in the order the psABI lists
// them; AVX counts as present only when the OS saves the AVX registers (XCR0 bits 1 and 2).
std::vector<CpuFeature> x86_64_v3_features(const CpuidWords& words);

// Names of the x86-64-v3 features `words` lack (empty: the kernels can run).
std::vector<std::string> missing_kernel_features(const CpuidWords& words);

// Faster paths a later check may choose between at run time (oneDNN picks its own ISA too).
struct CpuExtras {
  bool avx512f = false;
  bool avx512_bf16 = false;
  bool amx_bf16 = false;
};
CpuExtras cpu_extras(const CpuidWords& words);

// Throws Error(kUnimplemented) naming every missing feature when this machine cannot run the
// kernels (see above); otherwise returns. Reads CPUID once per process; cheap after the first
// call. Called where the engine starts, before any code built for x86-64-v3 runs: the command
// line's main, runtime's kernel compilation (a Program, planned_arena_bytes), data::Dataset::
// iterate and data::resize_images.
void require_kernel_cpu_features();

// The message require_kernel_cpu_features throws for `missing` (non-empty).
std::string missing_features_message(const std::vector<std::string>& missing);

}  // namespace leantrain
