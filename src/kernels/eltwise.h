// Elementwise kernels: activations, their gradients, and Add. Every function may run in place
// (dst == src, diff_src == diff_dst) and is written so that it stays correct when it does.
#pragma once

#include <cstdint>

namespace leantrain::kernels {

enum class Activation { kRelu, kRelu6, kSigmoid, kTanh, kSwish };

// Returns true when the gradient of `act` is computed from its output (dst), false when it
// needs its input (src). Relu, Relu6, Sigmoid, Tanh: dst. Swish: src.
bool activation_grad_uses_dst(Activation act);

// dst[i] = act(src[i]) for i < n.
void activation_fwd_ref(Activation act, const float* src, float* dst, int64_t n);
// diff_src[i] = diff_dst[i] * act'(.), where `saved` is dst or src per
// activation_grad_uses_dst(). Relu's gradient at 0 is 0; Relu6's is 0 at 0 and at 6.
void activation_bwd_ref(Activation act, const float* saved, const float* diff_dst, float* diff_src,
                        int64_t n);
void activation_fwd_fast(Activation act, const float* src, float* dst, int64_t n);
void activation_bwd_fast(Activation act, const float* saved, const float* diff_dst, float* diff_src,
                         int64_t n);

// dst[i] = a[i] + b[i] (may alias a or b).
void add_ref(const float* a, const float* b, float* dst, int64_t n);
void add_fast(const float* a, const float* b, float* dst, int64_t n);
// dst[i] += src[i]: gradient accumulation.
void accumulate_fast(const float* src, float* dst, int64_t n);

}  // namespace leantrain::kernels
