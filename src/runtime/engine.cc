#include "leantrain/runtime/engine.h"

#include <omp.h>

#include "leantrain/core/error.h"
#include "leantrain/memory/process_memory.h"
#include "ops/ops.h"

namespace leantrain::runtime {

int64_t start_engine(int threads) {
  LT_CHECK(threads >= 1, kInvalidArgument, "threads must be >= 1, got ", threads);
  omp_set_num_threads(threads);
  const int64_t before = memory::current_rss_bytes();
  ops::warm_up_kernels();
  return memory::current_rss_bytes() - before;
}

}  // namespace leantrain::runtime
