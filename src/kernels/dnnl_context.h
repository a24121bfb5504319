// The process-wide oneDNN CPU engine and stream. Private to src/kernels: no oneDNN type leaks
// into the public headers.
#pragma once

#include <oneapi/dnnl/dnnl.hpp>

namespace leantrain::kernels {

dnnl::engine& cpu_engine();
dnnl::stream& cpu_stream();

// Returns the user-scratchpad attribute every leantrain primitive is created with.
dnnl::primitive_attr user_scratchpad_attr();

}  // namespace leantrain::kernels
