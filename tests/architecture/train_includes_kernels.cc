// Must not compile: train reaches the kernels only through ops.
#include "kernels/conv2d.h"
