"""keras.callbacks on leantrain's engine: Python Callback subclasses and Keras' built-in
callbacks, as fit() drives them. Needs numpy and h5py; the TensorBoard test also reads the event
files back with the `tensorboard` package.

Where a callback watches a quantity, the tests feed it a scripted one: a Python callback listed
first writes logs["score"] at each epoch end, and the engine's callbacks, which run after it (as
in Keras when listed after it), read it. That keeps the epochs at which they act exact.
"""

import csv
import glob
import math
import os
import re

import numpy as np
import pytest

from leantrain import keras

CLASSES = 4
HISTORY_KEYS = ["accuracy", "loss", "val_accuracy", "val_loss"]


def _data(count=128, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 256, (count, 12, 12, 1), dtype=np.uint8)
    y = rng.integers(0, CLASSES, count)
    return x, y


def _model(learning_rate=0.05, seed=1):
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], seed=seed)
    return model


class Recorder(keras.callbacks.Callback):
    """Records each hook's call, a copy of its logs, and the weights at each epoch end."""

    def __init__(self):
        super().__init__()
        self.calls, self.weights = [], []

    def on_train_begin(self, logs=None):
        self.calls.append(("train_begin",))

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_train_batch_end(self, batch, logs=None):
        self.calls.append(("batch_end", batch, dict(logs)))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, dict(logs)))
        self.weights.append(self.model.get_weights())

    def on_train_end(self, logs=None):
        self.calls.append(("train_end", dict(logs or {})))

    def hooks(self):
        return [call[0] for call in self.calls]

    def batches(self):
        return [call[1] for call in self.calls if call[0] == "batch_end"]


class Score(keras.callbacks.Callback):
    """Sets logs["score"] to scores[epoch] at each epoch end."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores

    def on_epoch_end(self, epoch, logs=None):
        logs["score"] = self.scores[epoch]


def _same(weights_a, weights_b):
    return all(np.array_equal(a, b) for a, b in zip(weights_a, weights_b))


# --- Python callbacks -------------------------------------------------------------------------

def test_python_callback_receives_keras_hooks_in_order_with_history_logs():
    x, y = _data(160)
    model = _model()
    recorder = Recorder()
    history = model.fit(x, y, epochs=2, batch_size=32, validation_split=0.2,
                        callbacks=[recorder], verbose=0)

    assert recorder.model is model
    assert recorder.params == {"verbose": 0, "epochs": 2, "steps": 4}
    per_epoch = ["epoch_begin"] + ["batch_end"] * 4 + ["epoch_end"]
    assert recorder.hooks() == ["train_begin"] + per_epoch * 2 + ["train_end"]
    assert recorder.batches() == [0, 1, 2, 3] * 2
    assert [c[1] for c in recorder.calls if c[0] in ("epoch_begin", "epoch_end")] == \
        [0, 0, 1, 1]

    for call in recorder.calls:
        if call[0] == "batch_end":
            assert sorted(call[2]) == ["accuracy", "loss"]
            assert all(math.isfinite(v) for v in call[2].values())
    epoch_logs = [c[2] for c in recorder.calls if c[0] == "epoch_end"]
    assert all(sorted(logs) == HISTORY_KEYS for logs in epoch_logs)
    assert sorted(history.history) == HISTORY_KEYS
    for key in HISTORY_KEYS:
        assert history.history[key] == [logs[key] for logs in epoch_logs]
    # the epoch's training figures are the running means after its last batch
    last_batch = [c[2] for c in recorder.calls if c[0] == "batch_end"][-1]
    assert epoch_logs[-1]["loss"] == last_batch["loss"]
    assert recorder.calls[-1] == ("train_end", epoch_logs[-1])


def test_stop_training_set_in_a_batch_stops_after_that_batch():
    class StopAtBatch(Recorder):
        def on_train_batch_end(self, batch, logs=None):
            super().on_train_batch_end(batch, logs)
            if batch == 2:
                self.model.stop_training = True

    x, y = _data(320)
    model = _model()
    callback = StopAtBatch()
    history = model.fit(x, y, epochs=5, batch_size=32, callbacks=[callback], verbose=0)
    assert callback.batches() == [0, 1, 2]
    assert history.epoch == [0]
    assert callback.hooks()[-2:] == ["epoch_end", "train_end"]
    assert model.stop_training

    model.fit(x, y, epochs=1, batch_size=32, verbose=0)  # the next fit starts afresh
    assert not model.stop_training


def test_stop_training_set_at_an_epoch_end_stops_after_that_epoch():
    class StopAtEpoch(Recorder):
        def on_epoch_end(self, epoch, logs=None):
            super().on_epoch_end(epoch, logs)
            if epoch == 1:
                self.model.stop_training = True

    x, y = _data(64)
    callback = StopAtEpoch()
    history = _model().fit(x, y, epochs=6, batch_size=32, callbacks=[callback], verbose=0)
    assert history.epoch == [0, 1]
    assert callback.batches() == [0, 1, 0, 1]


def test_logs_edited_in_on_epoch_end_reach_later_callbacks_and_history():
    class Edit(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            logs["loss"] = 100.0 + epoch
            logs["custom"] = epoch * 0.5
            del logs["accuracy"]

    seen = Recorder()
    x, y = _data(64)
    history = _model().fit(x, y, epochs=2, batch_size=32, callbacks=[Edit(), seen], verbose=0)
    assert history.history["loss"] == [100.0, 101.0]
    assert history.history["custom"] == [0.0, 0.5]
    assert "accuracy" not in history.history
    assert [c[2]["loss"] for c in seen.calls if c[0] == "epoch_end"] == [100.0, 101.0]


class Boom(Exception):
    pass


@pytest.mark.parametrize("hook", ["on_train_begin", "on_epoch_begin", "on_train_batch_end",
                                  "on_epoch_end", "on_train_end"])
def test_exception_raised_in_a_callback_propagates_out_of_fit_unchanged(hook):
    error = Boom(f"raised in {hook}")

    def raise_error(self, *args):
        raise error

    Raising = type("Raising", (keras.callbacks.Callback,), {hook: raise_error})
    x, y = _data(64)
    model = _model()
    with pytest.raises(Boom) as caught:
        model.fit(x, y, epochs=2, batch_size=32, callbacks=[Raising()], verbose=0)
    assert caught.value is error
    # the model is still usable
    assert len(model.fit(x, y, epochs=1, batch_size=32, verbose=0).history["loss"]) == 1


def test_exception_raised_in_a_learning_rate_schedule_propagates_unchanged():
    raised = []  # ids only: a schedule holding the exception would be a reference cycle
    # through the engine's callback, which Python's garbage collector cannot see

    def schedule(epoch, lr):
        if epoch == 1:
            error = Boom("schedule")
            raised.append(id(error))
            raise error
        return lr

    x, y = _data(64)
    with pytest.raises(Boom, match="schedule") as caught:
        _model().fit(x, y, epochs=3, batch_size=32, verbose=0,
                     callbacks=[keras.callbacks.LearningRateScheduler(schedule)])
    assert raised == [id(caught.value)]


def test_a_callback_that_is_not_a_callback_raises_type_error():
    x, y = _data(32)
    with pytest.raises(TypeError):
        _model().fit(x, y, callbacks=[lambda: None], verbose=0)


# --- EarlyStopping ----------------------------------------------------------------------------

def test_early_stopping_stops_after_patience_and_restores_the_best_weights():
    x, y = _data(64)
    model = _model()
    recorder = Recorder()
    stop = keras.callbacks.EarlyStopping(monitor="score", mode="min", patience=2,
                                         restore_best_weights=True)
    # best at epoch 1; epochs 2 and 3 do not improve: stop after epoch 3
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0,
                        callbacks=[Score([3.0, 1.0, 1.5, 1.2, 0.5, 0.1]), recorder, stop])
    assert history.epoch == [0, 1, 2, 3]
    assert history.history["score"] == [3.0, 1.0, 1.5, 1.2]
    assert _same(model.get_weights(), recorder.weights[1])
    assert not _same(model.get_weights(), recorder.weights[3])


def test_early_stopping_without_restore_keeps_the_last_weights():
    x, y = _data(64)
    model = _model()
    recorder = Recorder()
    stop = keras.callbacks.EarlyStopping(monitor="score", mode="min", patience=1)
    history = model.fit(x, y, epochs=10, batch_size=32, verbose=0,
                        callbacks=[Score([1.0, 2.0, 0.5]), recorder, stop])
    assert history.epoch == [0, 1]
    assert _same(model.get_weights(), recorder.weights[-1])


def test_early_stopping_baseline_keeps_counting_until_the_baseline_is_beaten():
    x, y = _data(64)
    scores = [5.0, 4.0, 4.0, 4.0, 4.0, 4.0]
    # Keras 3: an improvement that does not beat the baseline does not reset the wait
    with_baseline = keras.callbacks.EarlyStopping(monitor="score", mode="min", patience=2,
                                                  baseline=1.0)
    history = _model().fit(x, y, epochs=6, batch_size=32, verbose=0,
                           callbacks=[Score(scores), with_baseline])
    assert history.epoch == [0, 1, 2]
    without = keras.callbacks.EarlyStopping(monitor="score", mode="min", patience=2)
    history = _model().fit(x, y, epochs=6, batch_size=32, verbose=0,
                           callbacks=[Score(scores), without])
    assert history.epoch == [0, 1, 2, 3]


# --- ModelCheckpoint --------------------------------------------------------------------------

def test_model_checkpoint_saves_each_epoch_as_a_loadable_keras_file(tmp_path):
    x, y = _data(96)
    model = _model()
    recorder = Recorder()
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "{epoch:02d}.keras"))
    model.fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0,
              callbacks=[recorder, checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["01.keras", "02.keras", "03.keras"]
    for epoch in range(3):
        loaded = keras.models.load_model(tmp_path / f"{epoch + 1:02d}.keras")
        assert _same(loaded.get_weights(), recorder.weights[epoch])
        assert loaded.compiled
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_model_checkpoint_save_best_only_saves_only_improvements(tmp_path):
    x, y = _data(64)
    recorder = Recorder()
    checkpoint = keras.callbacks.ModelCheckpoint(str(tmp_path / "best-{epoch}.keras"),
                                                 monitor="score", mode="min",
                                                 save_best_only=True)
    _model().fit(x, y, epochs=5, batch_size=32, verbose=0,
                 callbacks=[Score([2.0, 3.0, 1.0, 1.0, 0.5]), recorder, checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["best-1.keras", "best-3.keras", "best-5.keras"]
    assert _same(keras.models.load_model(tmp_path / "best-3.keras").get_weights(),
                 recorder.weights[2])


def test_model_checkpoint_save_weights_only_writes_loadable_weights_h5(tmp_path):
    x, y = _data(64)
    model = _model()
    recorder = Recorder()
    path = tmp_path / "ckpt.weights.h5"
    checkpoint = keras.callbacks.ModelCheckpoint(str(path), monitor="score", mode="max",
                                                 save_best_only=True, save_weights_only=True)
    model.fit(x, y, epochs=3, batch_size=32, verbose=0,
              callbacks=[Score([1.0, 5.0, 2.0]), recorder, checkpoint])
    assert os.listdir(tmp_path) == ["ckpt.weights.h5"]
    model.set_weights([np.zeros_like(w) for w in model.get_weights()])
    model.load_weights(path)
    assert _same(model.get_weights(), recorder.weights[1])

    with pytest.raises(ValueError, match="weights.h5"):
        keras.callbacks.ModelCheckpoint(str(tmp_path / "x.keras"), save_weights_only=True)
    with pytest.raises(ValueError, match=r"\.keras"):
        keras.callbacks.ModelCheckpoint(str(tmp_path / "x.h5"))


# --- CSVLogger --------------------------------------------------------------------------------

def test_csv_logger_writes_keras_columns_and_the_history_values(tmp_path):
    x, y = _data(96)
    path = tmp_path / "log.csv"
    history = _model().fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0,
                           callbacks=[keras.callbacks.CSVLogger(str(path))])
    raw = path.read_bytes()
    assert raw.startswith(b"epoch,accuracy,loss,val_accuracy,val_loss\r\n")
    assert raw.count(b"\r\n") == 4  # Python's csv module ends lines so, and so Keras' file
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    assert [row["epoch"] for row in rows] == ["0", "1", "2"]
    for key in HISTORY_KEYS:  # str(float) round-trips exactly
        assert [float(row[key]) for row in rows] == history.history[key]

    _model().fit(x, y, epochs=1, batch_size=32, validation_split=0.25, verbose=0,
                 callbacks=[keras.callbacks.CSVLogger(str(path), append=True)])
    lines = path.read_bytes().split(b"\r\n")
    assert len(lines) == 6 and lines[4].startswith(b"0,") and lines[5] == b""


def test_csv_logger_without_validation_adds_val_columns_of_na(tmp_path):
    x, y = _data(64)
    path = tmp_path / "log.csv"
    _model().fit(x, y, epochs=1, batch_size=32, verbose=0,
                 callbacks=[keras.callbacks.CSVLogger(str(path), separator=";")])
    header, row = path.read_bytes().split(b"\r\n")[:2]
    assert header == b"epoch;accuracy;loss;val_accuracy;val_loss"
    assert row.split(b";")[3:] == [b"NA", b"NA"]


# --- learning rate ----------------------------------------------------------------------------

def test_learning_rate_scheduler_sets_the_rate_each_epoch_starts_with():
    calls = []

    def schedule(epoch, lr):
        calls.append((epoch, lr))
        return 0.0 if epoch >= 1 else 0.2

    x, y = _data(64)
    model = _model(learning_rate=0.1)
    initial = model.get_weights()
    recorder = Recorder()
    model.fit(x, y, epochs=3, batch_size=32, verbose=0,
              callbacks=[recorder, keras.callbacks.LearningRateScheduler(schedule)])
    assert [epoch for epoch, _ in calls] == [0, 1, 2]
    # the current rate, as the optimizer holds it (float32)
    assert [lr for _, lr in calls] == pytest.approx([0.1, 0.2, 0.0], rel=1e-7)
    # epoch 0 trained at 0.2; epochs 1 and 2 at 0.0, so their weights did not move
    assert not _same(initial, recorder.weights[0])
    assert _same(recorder.weights[0], recorder.weights[1])
    assert _same(recorder.weights[1], recorder.weights[2])


def test_learning_rate_scheduler_changes_model_optimizer_learning_rate():
    x, y = _data(64)
    model = _model(learning_rate=0.1)
    seen = []

    class ReadRate(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            seen.append(float(self.model.optimizer.learning_rate))

    model.fit(x, y, epochs=3, batch_size=32, verbose=0,
              callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 / 2 ** e),
                         ReadRate()])
    assert seen == pytest.approx([0.1, 0.05, 0.025], rel=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.025, rel=1e-6)


def test_learning_rate_scheduler_logs_the_rate_in_history():
    x, y = _data(64)
    history = _model(learning_rate=0.1).fit(
        x, y, epochs=3, batch_size=32, verbose=0,
        callbacks=[keras.callbacks.LearningRateScheduler(lambda e, lr: 0.1 / 2 ** e)])
    # Keras 3's History runs after every other callback and so records "learning_rate"
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05, 0.025], rel=1e-6)


def test_reduce_lr_on_plateau_reduces_the_rate_after_patience():
    x, y = _data(64)
    model = _model(learning_rate=0.1)
    recorder = Recorder()
    # score never improves after epoch 0: with patience 1 the rate becomes 0.1 * 0 after
    # epoch 1, so epochs 2 and 3 leave the weights where epoch 1 left them
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="score", mode="min", patience=1,
                                               factor=0.0)
    model.fit(x, y, epochs=4, batch_size=32, verbose=0,
              callbacks=[Score([1.0] * 4), recorder, reduce])
    assert not _same(recorder.weights[0], recorder.weights[1])
    assert _same(recorder.weights[1], recorder.weights[2])
    assert _same(recorder.weights[2], recorder.weights[3])


def test_reduce_lr_on_plateau_is_seen_in_optimizer_and_history():
    x, y = _data(64)
    model = _model(learning_rate=0.1)
    reduce = keras.callbacks.ReduceLROnPlateau(monitor="score", mode="min", patience=1,
                                               factor=0.5, min_lr=0.03)
    history = model.fit(x, y, epochs=4, batch_size=32, verbose=0,
                        callbacks=[Score([1.0] * 4), reduce])
    # Keras logs the rate in use at each epoch end, then reduces it: 0.1, 0.1 -> 0.05,
    # 0.05 -> 0.03 (min_lr), 0.03
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.1, 0.05, 0.03], rel=1e-6)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.03, rel=1e-6)


# --- TerminateOnNaN ---------------------------------------------------------------------------

def _nan_run():
    """A model and data whose loss is NaN from batch 1 on (of 16, not shuffled): SGD at a
    learning rate of 1e20 blows the logits up after the first step. (No Rescaling layer: it
    would rescale the input batch in place, and the engine could not run the step again to
    find the op.)"""
    model = keras.Sequential([
        keras.Input((12, 12, 1)),
        keras.layers.Conv2D(4, 3),
        keras.layers.Flatten(),
        keras.layers.Dense(CLASSES, activation="softmax"),
    ])
    model.compile(optimizer=keras.optimizers.SGD(1e20),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"], seed=1)
    return model, _data(96)


def test_terminate_on_nan_stops_after_the_first_nan_batch():
    model, (x, y) = _nan_run()
    recorder = Recorder()
    history = model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                        callbacks=[recorder, keras.callbacks.TerminateOnNaN()])
    assert recorder.batches() == [0, 1]
    assert history.epoch == [0]
    assert math.isnan(history.history["loss"][0])


def test_terminate_on_nan_prints_keras_message_to_python_stdout(capsys):
    # Like fit's progress bar, which goes through sys.stdout so that notebooks and
    # redirections see it; before it, the engine says where the NaN came from.
    model, (x, y) = _nan_run()
    model.fit(x, y, epochs=1, batch_size=16, shuffle=False, verbose=0,
              callbacks=[keras.callbacks.TerminateOnNaN()])
    out = capsys.readouterr().out
    assert "Batch 1: Invalid loss, terminating training" in out
    assert re.search(r"Step 2 \(batch 1 of this epoch\): the loss is nan; the first NaN or "
                     r"infinity is the output of (layer )?'[^']+' \((Conv2D|Dense|MatMul|Softmax)[^)]*, "
                     r"(forward|loss)\)\. The step was not applied", out), out


def test_without_terminate_on_nan_training_goes_on_and_the_weights_stay_finite():
    model, (x, y) = _nan_run()
    history = model.fit(x, y, epochs=2, batch_size=16, shuffle=False, verbose=0)
    assert history.epoch == [0, 1]
    # the steps whose loss was NaN were not applied
    assert all(np.isfinite(w).all() for w in model.get_weights())


def test_terminate_on_nan_with_raise_error_raises_runtime_error():
    model, (x, y) = _nan_run()
    # keras 3.15.1 raises RuntimeError("NaN or Inf loss encountered at batch 1. ...")
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 1"):
        model.fit(x, y, epochs=3, batch_size=16, shuffle=False, verbose=0,
                  callbacks=[keras.callbacks.TerminateOnNaN(raise_error=True)])


def test_nan_in_float_training_data_is_refused_naming_the_pixel():
    x, y = _data(96)
    x = x.astype(np.float32)
    x[40, 3, 5, 0] = np.nan  # image 8 of batch 2
    model = _model()
    with pytest.raises(ValueError, match=r"image 8 of a training batch holds nan at \(row 3, "
                                         r"column 5, channel 0\): training needs finite pixels"):
        model.fit(x, y, batch_size=16, shuffle=False, verbose=0)
    assert model.predict(x, verbose=0).shape == (96, CLASSES)  # inference takes it


# --- TensorBoard ------------------------------------------------------------------------------

def _scalars(directory, tag):
    event_accumulator = pytest.importorskip(
        "tensorboard.backend.event_processing.event_accumulator")
    accumulator = event_accumulator.EventAccumulator(str(directory)).Reload()
    if tag not in accumulator.Tags()["scalars"]:
        return None
    return [(event.step, event.value) for event in accumulator.Scalars(tag)]


def test_tensorboard_writes_one_scalar_per_epoch_equal_to_history(tmp_path):
    x, y = _data(96)
    history = _model().fit(x, y, epochs=3, batch_size=32, validation_split=0.25, verbose=0,
                           callbacks=[keras.callbacks.TensorBoard(str(tmp_path))])
    assert len(glob.glob(str(tmp_path / "train" / "events.out.tfevents.*"))) == 1
    assert len(glob.glob(str(tmp_path / "validation" / "events.out.tfevents.*"))) == 1
    for directory, prefix in (("train", ""), ("validation", "val_")):
        for name in ("loss", "accuracy"):
            expected = [(epoch, float(np.float32(value)))
                        for epoch, value in enumerate(history.history[prefix + name])]
            assert _scalars(tmp_path / directory, "epoch_" + name) == expected, \
                (directory, name)


def test_tensorboard_writes_the_learning_rate_as_keras_does(tmp_path):
    x, y = _data(64)
    _model(learning_rate=0.1).fit(
        x, y, epochs=2, batch_size=32, verbose=0,
        callbacks=[keras.callbacks.TensorBoard(str(tmp_path))])
    # keras 3.15.1 adds "epoch_learning_rate" to logdir/train after every epoch
    assert _scalars(tmp_path / "train", "epoch_learning_rate") == [
        (0, pytest.approx(0.1)), (1, pytest.approx(0.1))]


def test_tensorboard_refuses_what_it_does_not_write():
    with pytest.raises(NotImplementedError, match="histogram_freq"):
        keras.callbacks.TensorBoard(histogram_freq=1)
