"""leantrain's models against real Keras 3.15.1 on TensorFlow 2.21 (CPU, float32): the same
weights give the same predictions, one SGD step the same weights, summary() the same totals,
and `.keras` files go both ways."""

import os
import re

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import leantrain  # noqa: E402
from leantrain import keras as lkeras  # noqa: E402

RTOL = 1e-4


def convnet(k, dropout=0.5):
    """keras.io's simple MNIST convnet, in Keras `k` (real or leantrain's)."""
    return k.Sequential([
        k.Input(shape=(28, 28, 1)),
        k.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        k.layers.MaxPooling2D(pool_size=(2, 2)),
        k.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        k.layers.MaxPooling2D(pool_size=(2, 2)),
        k.layers.Flatten(),
        k.layers.Dropout(dropout),
        k.layers.Dense(10, activation="softmax"),
    ])


def mobilenet_v2(k):
    return k.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None,
                                      classes=10)


def randomized(model, rng):
    """`model` with every weight drawn at random (batch-norm variances positive), so that no
    zero-initialized bias or unit variance hides a difference. Small enough that the softmax
    does not saturate: there Keras clips probabilities to [1e-7, 1 - 1e-7] before the log,
    and leantrain computes the cross-entropy from the logits, exactly."""
    weights = [rng.normal(0.0, 0.05, w.shape).astype(np.float32) for w in model.get_weights()]
    # Batch-norm moving variances (every 4th weight of a BN layer) must stay positive.
    index = 0
    for layer in model.layers:
        n = len(layer.get_weights())
        if type(layer).__name__ == "BatchNormalization":
            weights[index + 3] = np.abs(weights[index + 3]) + 0.5
        index += n
    model.set_weights(weights)
    return model


def assert_close(actual, expected, what):
    scale = np.max(np.abs(expected))
    error = np.max(np.abs(actual - expected)) / scale
    assert error <= RTOL, f"{what}: max |difference| is {error:.3g} of the largest value"


@pytest.fixture(params=["convnet", "mobilenet_v2"])
def pair(request):
    """(real Keras model with random weights, leantrain's copy of it, a batch of inputs)."""
    rng = np.random.default_rng(7)
    if request.param == "convnet":
        real = randomized(convnet(keras), rng)
        x = rng.random((16, 28, 28, 1), dtype=np.float32)
    else:
        real = randomized(mobilenet_v2(keras), rng)
        x = rng.random((8, 96, 96, 3), dtype=np.float32)
    return real, leantrain.from_keras(real), x


def test_predict_agrees_with_keras(pair):
    real, ours, x = pair
    assert_close(ours.predict(x, verbose=0), real.predict(x, verbose=0), "predict")


def test_summary_totals_equal_keras(pair):
    real, ours, _ = pair
    assert ours.count_params() == real.count_params()
    lines = []
    ours.summary(print_fn=lines.append)
    text = "\n".join(lines)
    assert f"Total params: {real.count_params():,}" in text
    trainable = sum(int(np.prod(w.shape)) for w in real.trainable_weights)
    assert f"Trainable params: {trainable:,}" in text


def test_applications_build_keras_architecture():
    real, ours = mobilenet_v2(keras), mobilenet_v2(lkeras)
    assert ours.count_params() == real.count_params()
    # Layers Keras' application code leaves unnamed (the input, the pooling) are named by a
    # per-process counter ("global_average_pooling2d_2"): compared without the number.
    names = [[re.sub(r"_\d+$", "", layer.name) for layer in m.layers] for m in (ours, real)]
    assert names[0] == names[1] and len(names[0]) > 100
    assert [w.shape for w in ours.get_weights()] == [w.shape for w in real.get_weights()]


@pytest.mark.parametrize("model", ["convnet", "mobilenet_v2"])
def test_one_sgd_step_agrees_with_keras(model):
    # The convnet's Dropout draws different masks in each engine: the step is compared with
    # rate 0 (the same layers otherwise). MobileNetV2's batch norms use the batch's statistics.
    rng = np.random.default_rng(11)
    if model == "convnet":
        real = randomized(convnet(keras, dropout=0.0), rng)
        x = rng.random((32, 28, 28, 1), dtype=np.float32)
    else:
        real = randomized(mobilenet_v2(keras), rng)
        x = rng.random((8, 96, 96, 3), dtype=np.float32)
    y = rng.integers(0, 10, len(x))
    ours = leantrain.from_keras(real)
    before = real.get_weights()
    for m in (real, ours):
        m.compile(optimizer=(keras if m is real else lkeras).optimizers.SGD(learning_rate=0.1),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        m.fit(x, y, batch_size=len(x), epochs=1, shuffle=False, verbose=0)
    changed = 0
    for w_ours, w_real, w0 in zip(ours.get_weights(), real.get_weights(), before):
        assert_close(w_ours, w_real, f"weights after one step ({w_real.shape})")
        changed += not np.array_equal(w_real, w0)
    assert changed > len(before) // 2  # the step moved most weights: the comparison means something


def test_keras_file_from_leantrain_loads_in_keras(tmp_path, pair):
    real, ours, x = pair
    path = str(tmp_path / "ours.keras")
    ours.save(path)
    loaded = keras.models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), real.predict(x, verbose=0))


def test_keras_file_from_keras_loads_in_leantrain(tmp_path, pair):
    real, _, x = pair
    path = str(tmp_path / "real.keras")
    real.save(path)
    loaded = lkeras.models.load_model(path)
    assert_close(loaded.predict(x, verbose=0), real.predict(x, verbose=0), "predict")
    for a, b in zip(loaded.get_weights(), real.get_weights()):
        np.testing.assert_array_equal(a, b)
