// Process-wide start-up of the compute engine.
#pragma once

#include <cstdint>

namespace leantrain::runtime {

// Sets the number of threads kernels use (OpenMP; oneDNN shares them) and starts the engine:
// oneDNN's engine and stream, the thread pool and the JIT kernels oneDNN keeps for the whole
// process. This memory is the same for every model (library code and shared kernels); memory
// measurements of a model start after it, as a Python user's start after `import torch`.
// Returns the growth of the resident set it caused, in bytes. Throws Error(kInvalidArgument)
// for threads < 1.
int64_t start_engine(int threads);

}  // namespace leantrain::runtime
