// Must compile: a module's own public and private headers and its dependencies' public headers.
#include "data/dataset_internal.h"
#include "leantrain/core/error.h"
#include "leantrain/data/dataset.h"
