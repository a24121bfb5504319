"""MobileNetV2 (keras.applications, weights=None: 224x224x3, 1000 classes) trained for a few
steps of batch 32 on random data, as a Keras user writes it. bench/keras_vs_leantrain.py runs
this text twice: as it is (real Keras) and with its `import keras` line replaced by
`from leantrain import keras`.

The inputs are one numpy array of batch_size * steps images (float32 in [0, 1), seeded) and
as many class ids, passed to fit() for one epoch: both frameworks read the same array, and both
processes hold it (data_bytes in the report). SGD with momentum 0.9 and learning rate 0.01, as
bench/mobilenet_v2_vs_pytorch.py uses.
"""
import numpy as np

import keras

import support

options = support.setup(keras)  # --steps, --image-size, --jit-compile, --mixed-bfloat16
keras.utils.set_random_seed(options.seed)
if options.mixed_bfloat16:
    keras.mixed_precision.set_global_policy("mixed_bfloat16")

batch_size = 32
steps = options.steps
image_size = options.image_size  # 224, Keras' default, unless a smoke run asks for less
num_classes = 1000

rng = np.random.default_rng(options.seed)
x = rng.random((batch_size * steps, image_size, image_size, 3), dtype=np.float32)
y = rng.integers(0, num_classes, size=batch_size * steps)
support.mark_data_ready(x, y)

model = keras.applications.MobileNetV2(input_shape=(image_size, image_size, 3), weights=None,
                                       classes=num_classes)
model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.01, momentum=0.9),
              loss="sparse_categorical_crossentropy", jit_compile=options.jit_compile)

timer = support.TrainingTimer(keras, samples=len(x), batch_size=batch_size)
model.fit(x, y, batch_size=batch_size, epochs=1, verbose=2, callbacks=[timer])
support.report(timer, final_loss=timer.epoch_logs[-1]["loss"])
