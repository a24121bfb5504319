"""keras.Model and keras.Sequential on leantrain's engine: compile, fit, evaluate, predict,
weights, saving, summary and the errors a user meets. Needs numpy and h5py only.

Expected figures are worked out in the test (numpy oracles for the loss, the accuracy and one
optimizer step), or are Keras 3.15.1's own (parameter totals, summary lines), hard-coded with a
comment saying so.
"""

import os
import re

import numpy as np
import pytest

from leantrain import keras

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
CLASSES = 4


def _quadrant_data(count, seed):
    """(count, 12, 12, 1) uint8 images whose class is the quadrant holding a bright 4x4 patch,
    over dim noise: learnable in a few epochs by a tiny model."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 60, (count, 12, 12, 1), dtype=np.uint8)
    y = rng.integers(0, CLASSES, count)
    for i, label in enumerate(y):
        top, left = 6 * (label // 2) + rng.integers(0, 3), 6 * (label % 2) + rng.integers(0, 3)
        x[i, top:top + 4, left:left + 4, 0] = 200
    return x, y


def _sequential(name=None):
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ], name=name)


def _functional():
    """A residual block: conv -> conv, added back to its input."""
    inputs = keras.Input((12, 12, 1))
    h = keras.layers.Rescaling(1 / 255.0)(inputs)
    h = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(h)
    skip = keras.layers.Conv2D(4, 3, padding="same")(h)
    h = keras.layers.Add()([h, skip])
    h = keras.layers.Flatten()(h)
    outputs = keras.layers.Dense(CLASSES, activation="softmax")(h)
    return keras.Model(inputs, outputs)


def _compiled(build=_sequential, seed=7, **compile_args):
    model = build()
    compile_args.setdefault("optimizer", "adam")
    compile_args.setdefault("loss", "sparse_categorical_crossentropy")
    compile_args.setdefault("metrics", ["accuracy"])
    model.compile(seed=seed, **compile_args)
    return model


def _same_weights(a, b):
    wa, wb = a.get_weights(), b.get_weights()
    return len(wa) == len(wb) and all(np.array_equal(p, q) for p, q in zip(wa, wb))


# --- fit and History --------------------------------------------------------------------------

@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
def test_fit_with_validation_split_returns_keras_history_and_validates_on_the_last_samples(build):
    x, y = _quadrant_data(320, seed=1)
    model = _compiled(build, optimizer="adam")
    history = model.fit(x, y, epochs=3, batch_size=32, validation_split=0.2, verbose=0)

    assert isinstance(history, keras.callbacks.History)
    assert model.history is history
    assert history.epoch == [0, 1, 2]
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    for key, values in history.history.items():
        assert isinstance(values, list) and len(values) == 3, key
        assert all(isinstance(v, float) and np.isfinite(v) for v in values), key
    assert history.history["loss"][-1] < history.history["loss"][0]
    # Keras validates on the last 20% (not shuffled); the last epoch's figures are those of
    # the final weights on those samples.
    val_loss, val_accuracy = model.evaluate(x[256:], y[256:], batch_size=32, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(val_loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(val_accuracy, abs=1e-9)


@pytest.mark.parametrize("build", [_sequential, _functional], ids=["sequential", "functional"])
def test_fit_with_validation_data_reports_it_per_epoch_and_learns(build):
    x, y = _quadrant_data(384, seed=2)
    vx, vy = _quadrant_data(96, seed=3)
    model = _compiled(build, optimizer=keras.optimizers.Adam(learning_rate=0.01))
    history = model.fit(x, y, epochs=4, batch_size=32, validation_data=(vx, vy), verbose=0)

    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(v) == 4 for v in history.history.values())
    loss, accuracy = model.evaluate(vx, vy, verbose=0)
    assert history.history["val_loss"][-1] == pytest.approx(loss, rel=1e-6)
    assert history.history["val_accuracy"][-1] == pytest.approx(accuracy, abs=1e-9)
    assert accuracy > 0.8  # chance is 0.25


def test_functional_model_with_add_has_keras_weights_and_shapes():
    model = _functional()
    assert model.input_shape == (None, 12, 12, 1)
    assert model.output_shape == (None, CLASSES)
    assert [w.shape for w in model.get_weights()] == [
        (3, 3, 1, 4), (4,), (3, 3, 4, 4), (4,), (12 * 12 * 4, CLASSES), (CLASSES,)]
    assert [type(layer).__name__ for layer in model.layers] == [
        "InputLayer", "Rescaling", "Conv2D", "Conv2D", "Add", "Flatten", "Dense"]


@pytest.mark.skipif(not os.path.isdir(FASHION_DIR),
                    reason="needs Debian's dataset-fashion-mnist package")
def test_tiny_cnn_learns_fashion_mnist():
    (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    x_train, y_train = x_train[:3000, :, :, None], y_train[:3000]
    x_test, y_test = x_test[:1000, :, :, None], y_test[:1000]
    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(8, 3, activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Flatten(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], seed=3)
    history = model.fit(x_train, y_train, epochs=2, batch_size=64, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]
    assert model.evaluate(x_test, y_test, verbose=0)[1] > 0.6  # chance is 0.1; 0.75 seen


# --- compile: strings, objects, seeds -----------------------------------------------------------

def test_one_hot_and_sparse_labels_train_the_same_for_the_same_seed():
    x, y = _quadrant_data(256, seed=4)
    sparse = _compiled(_functional, seed=11, optimizer=keras.optimizers.SGD(0.1),
                       loss=keras.losses.SparseCategoricalCrossentropy())
    one_hot = _compiled(_functional, seed=11, optimizer=keras.optimizers.SGD(0.1),
                        loss=keras.losses.CategoricalCrossentropy())
    assert _same_weights(sparse, one_hot)  # the seed fixes the initialization

    a = sparse.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    b = one_hot.fit(x, keras.utils.to_categorical(y, CLASSES), epochs=2, batch_size=32,
                    verbose=0).history
    assert a.keys() == b.keys()
    for key in a:  # the same steps on the same batches, up to float rounding of the loss
        np.testing.assert_allclose(a[key], b[key], rtol=1e-6, err_msg=key)
    for p, q in zip(sparse.get_weights(), one_hot.get_weights()):
        np.testing.assert_allclose(p, q, rtol=1e-4, atol=1e-6)
    # and categorical_crossentropy reads the one-hot rows it is given
    np.testing.assert_allclose(
        one_hot.evaluate(x, keras.utils.to_categorical(y, CLASSES), verbose=0),
        sparse.evaluate(x, y, verbose=0), rtol=1e-5)


def test_the_same_seed_trains_identically_and_another_seed_differently():
    x, y = _quadrant_data(128, seed=5)
    first, second, other = (_compiled(seed=s) for s in (3, 3, 4))
    assert _same_weights(first, second)
    assert not _same_weights(first, other)
    h1 = first.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    h2 = second.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    assert h1 == h2
    assert _same_weights(first, second)


def test_uint8_and_float32_images_of_the_same_values_train_bitwise_the_same():
    x, y = _quadrant_data(128, seed=6)
    as_u8, as_f32 = _compiled(seed=5), _compiled(seed=5)
    h_u8 = as_u8.fit(x, y, epochs=2, batch_size=32, verbose=0).history
    h_f32 = as_f32.fit(x.astype(np.float32), y, epochs=2, batch_size=32, verbose=0).history
    assert h_u8 == h_f32
    assert _same_weights(as_u8, as_f32)
    # other dtypes are converted, as Keras converts them
    np.testing.assert_array_equal(as_u8.predict(x.astype(np.float64), verbose=0),
                                  as_u8.predict(x, verbose=0))


def _dense_only(classes=3, features=6):
    """softmax(x W + b) on (1, 1, features) images: small enough for a numpy oracle."""
    return keras.Sequential([keras.Input((1, 1, features)), keras.layers.Flatten(),
                             keras.layers.Dense(classes, activation="softmax")])


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _full_batch_oracle(optimizer, kernel, bias, x, y, steps):
    """The weights after `steps` full-batch steps of mean cross-entropy, computed in float64 as
    Keras 3 defines each optimizer's update; and the loss before each step."""
    n, classes = len(y), kernel.shape[1]
    weights, losses = [kernel, bias], []
    slots = [[np.zeros_like(w), np.zeros_like(w)] for w in weights]
    lr, kind = optimizer["lr"], optimizer["kind"]
    b1, b2, eps = 0.9, 0.999, 1e-7
    for t in range(1, steps + 1):
        p = _softmax(x @ weights[0] + weights[1])
        losses.append(-np.mean(np.log(p[np.arange(n), y])))
        d = (p - np.eye(classes)[y]) / n
        grads = [x.T @ d, d.sum(axis=0)]
        for i, g in enumerate(grads):
            w, (m, v) = weights[i], slots[i]
            if kind == "sgd":
                momentum = optimizer.get("momentum", 0.0)
                m = momentum * m - lr * g
                w = w + (momentum * m - lr * g if optimizer.get("nesterov") else m)
            else:
                w = w - w * optimizer.get("weight_decay", 0.0) * lr  # AdamW: decay first
                m = b1 * m + (1 - b1) * g
                v = b2 * v + (1 - b2) * g * g
                alpha = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
                w = w - alpha * m / (np.sqrt(v) + eps)
            weights[i], slots[i] = w, [m, v]
    return weights, losses


@pytest.mark.parametrize("optimizer, spec", [
    (lambda: keras.optimizers.SGD(learning_rate=0.5), {"kind": "sgd", "lr": 0.5}),
    (lambda: "sgd", {"kind": "sgd", "lr": 0.01}),  # Keras' default learning rate
    (lambda: keras.optimizers.SGD(0.2, momentum=0.9), {"kind": "sgd", "lr": 0.2,
                                                       "momentum": 0.9}),
    (lambda: keras.optimizers.SGD(0.2, momentum=0.9, nesterov=True),
     {"kind": "sgd", "lr": 0.2, "momentum": 0.9, "nesterov": True}),
    (lambda: keras.optimizers.Adam(learning_rate=0.05), {"kind": "adam", "lr": 0.05}),
    (lambda: "adam", {"kind": "adam", "lr": 0.001}),
    (lambda: keras.optimizers.AdamW(learning_rate=0.05, weight_decay=0.5),
     {"kind": "adamw", "lr": 0.05, "weight_decay": 0.5}),
], ids=["SGD", "sgd", "momentum", "nesterov", "Adam", "adam", "AdamW"])
def test_three_steps_of_each_optimizer_match_a_numpy_oracle(optimizer, spec):
    rng = np.random.default_rng(8)
    x = rng.standard_normal((8, 1, 1, 6)).astype(np.float32)
    y = rng.integers(0, 3, 8)
    model = _dense_only()
    model.compile(optimizer=optimizer(), loss="sparse_categorical_crossentropy", seed=2)
    kernel, bias = (w.astype(np.float64) for w in model.get_weights())
    expected, losses = _full_batch_oracle(spec, kernel, bias,
                                          x.reshape(8, 6).astype(np.float64), y, steps=3)

    history = model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
    np.testing.assert_allclose(history.history["loss"], losses, rtol=1e-5)
    for got, want in zip(model.get_weights(), expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# --- evaluate and predict ---------------------------------------------------------------------

def test_evaluate_returns_loss_and_metrics_as_keras_does_and_they_match_predict():
    x, y = _quadrant_data(100, seed=9)  # 100: the last batch of 32 is partial
    model = _compiled(seed=1)
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    p = model.predict(x, batch_size=32, verbose=0).astype(np.float64)
    loss = -np.mean(np.log(p[np.arange(len(y)), y]))
    accuracy = np.mean(np.argmax(p, axis=1) == y)

    values = model.evaluate(x, y, batch_size=32, verbose=0)
    assert isinstance(values, list) and len(values) == 2
    assert values[0] == pytest.approx(loss, rel=1e-5)
    assert values[1] == pytest.approx(accuracy, abs=1e-9)
    as_dict = model.evaluate(x, y, batch_size=32, verbose=0, return_dict=True)
    assert as_dict == {"loss": values[0], "accuracy": values[1]}

    bare = _compiled(seed=1, metrics=None)
    bare.set_weights(model.get_weights())
    scalar = bare.evaluate(x, y, verbose=0)
    assert isinstance(scalar, float)
    assert scalar == pytest.approx(loss, rel=1e-5)


def test_mean_squared_error_reads_one_hot_rows_or_class_ids():
    x, y = _quadrant_data(64, seed=23)
    model = _compiled(seed=1, loss=keras.losses.MeanSquaredError())
    one_hot = keras.utils.to_categorical(y, CLASSES)
    p = model.predict(x, verbose=0).astype(np.float64)
    loss, accuracy = model.evaluate(x, one_hot, verbose=0)
    assert loss == pytest.approx(np.mean((p - one_hot) ** 2), rel=1e-5)
    assert accuracy == pytest.approx(np.mean(np.argmax(p, axis=1) == y))
    assert model.evaluate(x, y, verbose=0) == [loss, accuracy]
    history = model.fit(x, one_hot, epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_binary_crossentropy_on_a_sigmoid_unit():
    x, y = _quadrant_data(64, seed=24)
    y = (y % 2).astype(np.float32)  # left or right half
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Rescaling(1 / 255.0),
                              keras.layers.Flatten(),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile(optimizer="adam", loss=keras.losses.BinaryCrossentropy(),
                  metrics=["accuracy"], seed=1)
    p = model.predict(x, verbose=0)[:, 0].astype(np.float64)
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert loss == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)), rel=1e-5)
    assert accuracy == pytest.approx(np.mean((p > 0.5) == y))
    history = model.fit(x, y, epochs=2, verbose=0)
    assert history.history["loss"][1] < history.history["loss"][0]


def test_metric_names_are_the_logs_keys():
    x, y = _quadrant_data(64, seed=10)
    model = _compiled(seed=1, metrics=["sparse_categorical_accuracy", "acc"])
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert sorted(history.history) == ["acc", "loss", "sparse_categorical_accuracy"]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    assert result["acc"] == result["sparse_categorical_accuracy"] == pytest.approx(
        np.mean(np.argmax(p, axis=1) == y))


def test_compile_takes_metric_objects():
    x, y = _quadrant_data(64, seed=10)
    model = _compiled(seed=1, metrics=[keras.metrics.SparseCategoricalAccuracy(),
                                       keras.metrics.SparseTopKCategoricalAccuracy(k=2)])
    history = model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert sorted(history.history) == ["loss", "sparse_categorical_accuracy",
                                       "sparse_top_k_categorical_accuracy"]
    result = model.evaluate(x, y, verbose=0, return_dict=True)
    p = model.predict(x, verbose=0)
    top2 = np.argsort(p, axis=1)[:, -2:]
    assert result["sparse_top_k_categorical_accuracy"] == pytest.approx(
        np.mean([label in row for label, row in zip(y, top2)]))


def test_predict_returns_float32_softmax_rows_independent_of_batch_size():
    x, _ = _quadrant_data(37, seed=11)
    model = _compiled(_functional, seed=2)
    p = model.predict(x, verbose=0)
    assert isinstance(p, np.ndarray)
    assert p.dtype == np.float32 and p.shape == (37, CLASSES)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    assert (p > 0).all()
    np.testing.assert_allclose(model.predict(x, batch_size=5, verbose=0), p, rtol=1e-6)
    np.testing.assert_allclose(model.predict(x[3:4], verbose=0), p[3:4], rtol=1e-6)
    np.testing.assert_array_equal(model(x[:4]), p[:4])  # model(x) as Keras' eager call


def test_predict_propagates_nan_as_keras_does():
    # keras 3.15.1 (TensorFlow) predicts a row of NaN for an image with a NaN pixel when no
    # ReLU sits between it and the softmax; a row of zeros would hide the fault.
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten(),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", seed=1)
    x = np.zeros((2, 12, 12, 1), np.float32)
    x[1, 3, 3, 0] = np.nan
    p = model.predict(x, verbose=0)
    np.testing.assert_allclose(p[0], 1 / CLASSES, rtol=1e-6)
    assert np.isnan(p[1]).all(), p[1]


# --- weights --------------------------------------------------------------------------------

def test_get_weights_set_weights_round_trip_and_copies():
    x, _ = _quadrant_data(16, seed=12)
    model = _compiled(seed=3)
    weights = model.get_weights()
    assert [w.dtype for w in weights] == [np.float32] * 4
    before = model.predict(x, verbose=0)

    weights[0][...] = 0  # a copy: changing it does not change the model
    np.testing.assert_array_equal(model.predict(x, verbose=0), before)

    other = _compiled(seed=4)
    assert not np.array_equal(other.predict(x, verbose=0), before)
    other.set_weights(model.get_weights())
    np.testing.assert_array_equal(other.predict(x, verbose=0), before)
    assert _same_weights(other, model)

    changed = [w + 0.5 for w in model.get_weights()]
    model.set_weights(changed)
    for got, want in zip(model.get_weights(), changed):
        np.testing.assert_array_equal(got, want)


def test_set_weights_rejects_wrong_count_and_shapes_naming_them():
    model = _compiled(seed=3)
    weights = model.get_weights()
    with pytest.raises(ValueError, match=r"4 weights, got 3"):
        model.set_weights(weights[:3])
    with pytest.raises(ValueError, match=r"\(3, 3, 1, 4\).*\(4, 1, 3, 3\)"):
        model.set_weights([weights[0].T] + weights[1:])
    with pytest.raises(ValueError, match=r"\(4,\).*\(5,\)"):
        model.set_weights([weights[0], np.zeros(5, np.float32)] + weights[2:])
    assert _same_weights(model, model)  # the model is unchanged and usable
    for got, want in zip(model.get_weights(), weights):
        np.testing.assert_array_equal(got, want)


# --- files ----------------------------------------------------------------------------------

def test_sequential_add_and_pop_keep_the_trained_weights_of_the_layers_that_stay():
    x, y = _quadrant_data(64, 11)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.Flatten()])
    model.add(keras.layers.Dense(CLASSES, activation="softmax"))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    trained = model.get_weights()

    model.pop()
    assert [w.shape for w in model.get_weights()] == [w.shape for w in trained[:2]]
    model.add(keras.layers.Dense(16, activation="relu"))
    model.add(keras.layers.Dense(CLASSES, activation="softmax"))
    after = model.get_weights()
    assert [w.shape for w in after] == [(3, 3, 1, 4), (4,), (400, 16), (16,), (16, CLASSES),
                                        (CLASSES,)]
    for kept, before in zip(after[:2], trained[:2]):  # the convolution's trained weights
        np.testing.assert_array_equal(kept, before)
    assert np.any(after[2] != 0) and np.all(after[3] == 0)  # new layers: initialized afresh
    history = model.fit(x, y, epochs=1, verbose=0)  # still compiled
    assert np.isfinite(history.history["loss"][0])


def test_verbose_2_prints_one_keras_line_per_epoch(capfd):
    x, y = _quadrant_data(100, 12)
    model = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Flatten(),
                              keras.layers.Dense(CLASSES, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=32, epochs=2, validation_split=0.2, verbose=2)
    lines = capfd.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2", lines
    for line in (lines[1], lines[3]):  # Keras 3's: "3/3 - 0s - 5ms/step - accuracy: ..."
        assert re.match(r"3/3 - \d+s - \d+(us|ms|s)/step - accuracy: \d\.\d{4} - loss: "
                        r"\d+\.\d{4} - val_accuracy: \d\.\d{4} - val_loss: \d+\.\d{4}", line), line
    assert len(lines) == 4, lines


def test_save_keras_and_load_model_round_trip(tmp_path):
    x, y = _quadrant_data(96, seed=13)
    model = _compiled(_functional, seed=4, optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
                      loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)

    loaded = keras.models.load_model(path)
    assert loaded.compiled
    assert type(loaded.optimizer).__name__ == "SGD"
    assert loaded.optimizer.momentum == pytest.approx(0.9)
    assert [type(layer).__name__ for layer in loaded.layers] == \
        [type(layer).__name__ for layer in model.layers]
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.evaluate(x, y, verbose=0) == model.evaluate(x, y, verbose=0)
    loaded.fit(x, y, epochs=1, batch_size=32, verbose=0)  # trains on

    with pytest.raises(ValueError, match=r"\.keras"):
        model.save(tmp_path / "model.h5")


@pytest.mark.parametrize("filename", ["w.weights.h5", "w.safetensors"])
def test_save_weights_load_weights_restores_the_same_model(tmp_path, filename):
    x, _ = _quadrant_data(32, seed=14)
    model = _compiled(seed=5)
    expected = model.predict(x, verbose=0)
    model.save_weights(tmp_path / filename)
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(tmp_path / filename)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


@pytest.mark.parametrize("filename", ["w.weights.h5", "w.safetensors"])
def test_weights_file_loads_into_a_newly_built_model_of_the_same_architecture(tmp_path,
                                                                             filename):
    # Keras 3 matches a weights file to the model by structure, not by the layers' names: a
    # second `_sequential()` in this process has layers named conv2d_1, dense_1, ..., and
    # keras 3.15.1 loads the first one's .weights.h5 into it.
    x, _ = _quadrant_data(32, seed=15)
    model = _compiled(seed=5)
    model.save_weights(tmp_path / filename)
    fresh = _sequential()
    assert [l.name for l in fresh.layers] != [l.name for l in model.layers]
    fresh.load_weights(tmp_path / filename)
    np.testing.assert_array_equal(fresh.predict(x, verbose=0), model.predict(x, verbose=0))


def test_load_weights_of_another_architecture_raises_value_error(tmp_path):
    model = _compiled(seed=5)
    model.save_weights(tmp_path / "w.weights.h5")
    model.save_weights(tmp_path / "w.safetensors")
    other = keras.Sequential([keras.Input((12, 12, 1)), keras.layers.Conv2D(5, 3),
                              keras.layers.Flatten(), keras.layers.Dense(CLASSES)])
    before = other.get_weights()
    for name in ("w.weights.h5", "w.safetensors"):
        with pytest.raises(ValueError):
            other.load_weights(tmp_path / name)
    for got, want in zip(other.get_weights(), before):  # nothing was half-loaded
        np.testing.assert_array_equal(got, want)
    with pytest.raises(ValueError, match=r"weights\.h5"):
        model.save_weights(tmp_path / "w.h5")


# --- summary and applications -----------------------------------------------------------------

def _summary_model():
    return keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.BatchNormalization(),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ], name="tiny")


# What keras 3.15.1's model.summary() prints for _summary_model() before it has trained.
KERAS_TOTALS = [" Total params: 1,660 (6.48 KB)",
                " Trainable params: 1,652 (6.45 KB)",
                " Non-trainable params: 8 (32.00 B)"]


def test_summary_prints_keras_table_and_totals(capsys):
    model = _summary_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.summary()
    printed = capsys.readouterr().out
    lines = printed.splitlines()
    assert lines[0] == 'Model: "tiny"'
    assert "Layer (type)" in printed and "Output Shape" in printed and "Param #" in printed
    for layer, shape, params in (("conv2d", "(None, 10, 10, 4)", "40"),
                                 ("flatten", "(None, 400)", "0"),
                                 ("dense", "(None, 4)", "1,604")):
        row = next(line for line in lines if f"│ {layer}" in line)
        cells = [cell.strip() for cell in row.split("│")]
        assert shape in cells and params in cells, row
    assert lines[-3:] == KERAS_TOTALS
    assert model.count_params() == 1660

    captured = []
    model.summary(print_fn=captured.append)
    assert "".join(captured).splitlines() == lines


def test_summary_after_fit_counts_the_optimizer_as_keras_does(capsys):
    model = _summary_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", seed=1)
    x, y = _quadrant_data(32, seed=16)
    model.fit(x, y, batch_size=32, verbose=0)
    capsys.readouterr()
    model.summary()
    # keras 3.15.1 after one fit with Adam: 2 slots per trainable weight (2 x 1,652) plus its
    # iteration and learning_rate variables.
    assert capsys.readouterr().out.splitlines()[-4:] == [
        " Total params: 4,966 (19.40 KB)",
        " Trainable params: 1,652 (6.45 KB)",
        " Non-trainable params: 8 (32.00 B)",
        " Optimizer params: 3,306 (12.92 KB)"]


def test_mobilenet_v2_has_keras_parameter_count():
    model = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None,
                                           classes=10)
    assert model.count_params() == 423_018  # what keras 3.15.1 reports for the same call
    assert model.input_shape == (None, 96, 96, 3)
    assert model.output_shape == (None, 10)


def test_applications_refuse_pretrained_weights():
    with pytest.raises(ValueError, match="weights"):
        keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3),
                                       weights="imagenet", classes=10)
    with pytest.raises(ValueError, match="weights"):
        keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), classes=10)


# --- errors ---------------------------------------------------------------------------------

def test_images_of_the_wrong_rank_or_size_raise_value_error_naming_the_shapes():
    x, y = _quadrant_data(64, seed=17)
    model = _compiled(seed=1)
    with pytest.raises(ValueError, match=r"\(64, 12, 12\).*\(samples, height, width, channels\)"):
        model.fit(x[..., 0], y, verbose=0)
    with pytest.raises(ValueError, match=r"\(64, 144\)"):
        model.predict(x.reshape(64, 144), verbose=0)
    with pytest.raises(ValueError, match=r"\(10, 12, 1\).*\(12, 12, 1\)"):
        model.predict(x[:, :10], verbose=0)
    with pytest.raises(ValueError, match=r"\(12, 12, 3\).*\(12, 12, 1\)"):
        model.evaluate(np.repeat(x, 3, axis=3), y, verbose=0)
    with pytest.raises(ValueError, match=r"10 samples.*64"):
        model.fit(x, y[:10], verbose=0)


@pytest.mark.parametrize("bad", [CLASSES, 9, -1])
def test_labels_out_of_range_raise_value_error(bad):
    x, y = _quadrant_data(64, seed=18)
    model = _compiled(seed=1)
    y = y.copy()
    y[5] = bad
    with pytest.raises(ValueError, match=rf"{bad}.*\[0, {CLASSES}\)"):
        model.fit(x, y, batch_size=64, verbose=0)
    with pytest.raises(ValueError, match=rf"{bad}"):
        model.evaluate(x, y, verbose=0)


def test_one_hot_rows_that_are_not_one_hot_raise_value_error():
    x, y = _quadrant_data(32, seed=19)
    model = _compiled(seed=1, loss="categorical_crossentropy")
    one_hot = keras.utils.to_categorical(y, CLASSES)
    for bad in (one_hot * 0.5, np.ones_like(one_hot), np.zeros_like(one_hot)):
        with pytest.raises(ValueError, match="one-hot"):
            model.fit(x, bad, verbose=0)
    with pytest.raises(ValueError, match=r"\(32, 3\)"):
        model.fit(x, one_hot[:, :3], verbose=0)
    with pytest.raises(ValueError, match=r"\(32,\)"):
        model.fit(x, y, verbose=0)  # class ids given to categorical_crossentropy


def test_fractional_class_ids_raise_value_error():
    x, y = _quadrant_data(32, seed=20)
    model = _compiled(seed=1)
    with pytest.raises(ValueError, match="whole numbers"):
        model.fit(x, y + 0.5, verbose=0)


def test_compile_is_required_and_needs_a_loss():
    x, y = _quadrant_data(32, seed=21)
    model = _sequential()
    with pytest.raises(ValueError, match="compile"):
        model.fit(x, y, verbose=0)
    with pytest.raises(ValueError, match="compile"):
        model.evaluate(x, y, verbose=0)
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="adam")
    with pytest.raises(ValueError, match="optimizer"):
        model.compile(optimizer="nadamax", loss="sparse_categorical_crossentropy")
    with pytest.raises(ValueError, match="loss"):
        model.compile(optimizer="adam", loss="hinge_of_fate")


@pytest.mark.parametrize("call", [
    lambda m, x, y: m.fit(x, y, class_weight={0: 2.0}, verbose=0),
    lambda m, x, y: m.fit(x, y, sample_weight=np.ones(len(y)), verbose=0),
    lambda m, x, y: m.fit(x, y, validation_freq=2, verbose=0),
    lambda m, x, y: m.fit(x, y, validation_steps=1, validation_data=(x, y), verbose=0),
    lambda m, x, y: m.evaluate(x, y, steps=1, verbose=0),
    lambda m, x, y: m.predict(x, steps=1, verbose=0),
    lambda m, x, y: m.compile(optimizer="adam", loss="mse", loss_weights=[1.0]),
    lambda m, x, y: m.compile(optimizer="adam", loss="mse", steps_per_execution=4),
    lambda m, x, y: keras.optimizers.SGD(clipnorm=1.0),
    lambda m, x, y: keras.optimizers.Adam(amsgrad=True),
    lambda m, x, y: keras.losses.CategoricalCrossentropy(label_smoothing=0.1),
    lambda m, x, y: keras.losses.SparseCategoricalCrossentropy(ignore_class=0),
    lambda m, x, y: keras.applications.MobileNetV2(weights=None, input_tensor=keras.Input(
        (96, 96, 3))),
], ids=["class_weight", "sample_weight", "validation_freq", "validation_steps",
        "evaluate_steps", "predict_steps", "loss_weights", "steps_per_execution", "clipnorm",
        "amsgrad", "label_smoothing", "ignore_class", "input_tensor"])
def test_unsupported_arguments_raise_not_implemented_error(call):
    x, y = _quadrant_data(32, seed=22)
    model = _compiled(seed=1)
    with pytest.raises(NotImplementedError):
        call(model, x, y)


def test_subclassed_models_raise_not_implemented_error():
    class MyModel(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(NotImplementedError, match="subclass"):
        MyModel()
