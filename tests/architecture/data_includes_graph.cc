// Must not compile: data uses core only, and this includes a graph header.
#include "leantrain/graph/graph.h"
