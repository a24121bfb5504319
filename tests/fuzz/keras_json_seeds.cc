// Writes keras_json_fuzz's seed corpus: the zoo's architectures as Keras JSON (convolutions,
// pooling, batch norm, depthwise and separable convolutions, residual adds,
// squeeze-and-excitation, dropout, rescaling). Generated at fuzz time (scripts/fuzz), never
// committed.
//
//   keras_json_seeds OUT_DIR   writes OUT_DIR/keras_json_fuzz/*.json
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "leantrain/nn/serialization.h"
#include "leantrain/nn/zoo.h"

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using leantrain::Shape;
  using leantrain::nn::make_model;
  if (argc != 2) {
    std::fprintf(stderr, "usage: keras_json_seeds OUT_DIR\n");
    return 2;
  }
  const fs::path dir = fs::path(argv[1]) / "keras_json_fuzz";
  fs::create_directories(dir);
  const auto write = [&](const std::string& name, const leantrain::nn::Model& model) {
    std::ofstream(dir / (name + ".json"), std::ios::binary) << leantrain::nn::to_json(model);
  };
  write("cnn", make_model("cnn", Shape{28, 28, 1}, 10));
  write("mobilenet", make_model("mobilenet", Shape{32, 32, 3}, 5, 3, {.alpha = 0.25}));
  write("mobilenet_v2", make_model("mobilenet_v2", Shape{32, 32, 3}, 5, 3, {.alpha = 0.35}));
  write("efficientnet_b0", make_model("efficientnet_b0", Shape{32, 32, 3}, 5));
  std::printf("keras_json_seeds: wrote seeds to %s\n", dir.c_str());
  return 0;
}
