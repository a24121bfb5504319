// leantrain: the command line. The one catch-all: every error becomes `leantrain: <message>`
// and an exit code per error kind.
#include <iostream>

#include "cli/commands.h"
#include "leantrain/core/cpu_features.h"
#include "leantrain/core/error.h"

int main(int argc, char** argv) {
  CLI::App app{"leantrain: train convolutional networks in as little memory as the model allows"};
  app.require_subcommand(1);
  app.footer(
      "Exit codes: 0 success, 1 usage, 2 invalid argument, 3 not found, 4 data loss, 5 out of "
      "budget, 6 unimplemented, 7 io, 8 internal error");
  leantrain::cli::add_train_command(app);
  leantrain::cli::add_summary_command(app);
  leantrain::cli::add_export_images_command(app);
  leantrain::cli::add_data_bench_command(app);
  leantrain::cli::add_profile_command(app);
  leantrain::cli::add_find_batch_command(app);
  leantrain::cli::add_evaluate_command(app);
  leantrain::cli::add_predict_command(app);
  try {
    leantrain::require_kernel_cpu_features();
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 1;
  } catch (const leantrain::Error& e) {
    std::cerr << "leantrain: " << e.what() << "\n";
    return static_cast<int>(e.code());
  } catch (const std::exception& e) {
    std::cerr << "leantrain: internal error: " << e.what() << "\n";
    return static_cast<int>(leantrain::ErrorCode::kInternal);
  }
  return 0;
}
