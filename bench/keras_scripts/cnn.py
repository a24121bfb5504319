"""keras.io's "Simple MNIST convnet" (https://keras.io/examples/vision/mnist_convnet/), on
Fashion-MNIST, as a Keras user writes it. bench/keras_vs_leantrain.py runs this text twice: as
it is (real Keras) and with its `import keras` line replaced by `from leantrain import keras`.

Beyond keras.io's text: `layers` is taken from the imported `keras` (keras.io's `from keras
import layers` would bring in real Keras' layers in the leantrain form too), the data comes from
Debian's files (support.load_fashion_mnist), fit() prints one line per epoch (verbose=2) and
gets a timing callback, a seed is set, and `support` writes the report.
"""
import numpy as np

import keras

import support

options = support.setup(keras)  # --epochs, --train-subset, --jit-compile, --mixed-bfloat16
keras.utils.set_random_seed(options.seed)
if options.mixed_bfloat16:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
layers = keras.layers

# Model / data parameters
num_classes = 10
input_shape = (28, 28, 1)

# Load the data and split it between train and test sets
(x_train, y_train), (x_test, y_test) = support.load_fashion_mnist(keras)

# Scale images to the [0, 1] range
x_train = x_train.astype("float32") / 255
x_test = x_test.astype("float32") / 255
# Make sure images have shape (28, 28, 1)
x_train = np.expand_dims(x_train, -1)
x_test = np.expand_dims(x_test, -1)
print("x_train shape:", x_train.shape)
print(x_train.shape[0], "train samples")
print(x_test.shape[0], "test samples")

# convert class vectors to binary class matrices
y_train = keras.utils.to_categorical(y_train, num_classes)
y_test = keras.utils.to_categorical(y_test, num_classes)
support.mark_data_ready(x_train, y_train, x_test, y_test)

model = keras.Sequential(
    [
        keras.Input(shape=input_shape),
        layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        layers.MaxPooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dropout(0.5),
        layers.Dense(num_classes, activation="softmax"),
    ]
)

model.summary()

batch_size = 128
epochs = options.epochs
validation_split = 0.1

model.compile(loss="categorical_crossentropy", optimizer="adam", metrics=["accuracy"],
              jit_compile=options.jit_compile)

timer = support.TrainingTimer(keras, samples=int(len(x_train) * (1.0 - validation_split)),
                              batch_size=batch_size)
model.fit(x_train, y_train, batch_size=batch_size, epochs=epochs,
          validation_split=validation_split, verbose=2, callbacks=[timer])

score = model.evaluate(x_test, y_test, verbose=0)
print("Test loss:", score[0])
print("Test accuracy:", score[1])
support.report(timer, test_loss=float(score[0]), test_accuracy=float(score[1]))
