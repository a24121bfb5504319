// The verbs of the `leantrain` command, one file each.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "leantrain/core/shape.h"

namespace leantrain::cli {

// Registers `train` / `summary` on `app`; the returned callbacks run after parsing.
void add_train_command(CLI::App& app);
void add_summary_command(CLI::App& app);

// Parses "28x28x1" into a shape; throws Error(kInvalidArgument) naming the text.
Shape parse_shape(const std::string& text);

}  // namespace leantrain::cli
