// Trains a small CNN on Fashion-MNIST with the C++ API (the README's example).
#include <iostream>

#include "leantrain/data/idx.h"
#include "leantrain/nn/sequential.h"
#include "leantrain/train/trainer.h"

using namespace leantrain;

int main() {
  try {
    const data::TrainTest ds = data::load_fashion_mnist();
    nn::Sequential model(
        Shape{28, 28, 1},
        {
            nn::Conv2D({.filters = 32, .kernel_size = 3, .activation = "relu"}),
            nn::MaxPooling2D({.pool_size = 2}), nn::Flatten(), nn::Dense({.units = 10}),  // logits
        });
    std::cout << model.summary();
    train::Trainer trainer(model, {.optimizer = train::Adam({.learning_rate = 1e-3f}), .seed = 0});
    std::cout << trainer.plan(128).to_string();
    trainer.fit(ds.train, {.epochs = 3, .batch_size = 128, .validation_data = ds.test.view()});
  } catch (const Error& e) {
    std::cerr << "train_cnn: " << e.what() << "\n";
    return 1;
  }
}
