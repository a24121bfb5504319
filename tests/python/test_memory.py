"""What leantrain's Python package costs in memory, and its memory options: training data read
in place, no growth over repeated models, a light import, memory plans and budgets, and Ctrl-C.
Needs numpy; Linux (/proc/self/status).

Resident sizes are read from /proc/self/status (VmRSS, and VmHWM after resetting it through
/proc/self/clear_refs). Before a reading, glibc is asked to hand its free pages back
(malloc_trim) so that the figures count memory still held, not memory the allocator keeps.
"""

import ctypes
import gc
import math
import os
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import leantrain
from leantrain import keras

MiB = 1 << 20
PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(leantrain.__file__)))

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/status"),
                                reason="reads /proc/self/status (Linux)")


def _status_bytes(field):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _trim():
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def _rss():
    _trim()
    return _status_bytes("VmRSS")


def _reset_peak():
    """Resets VmHWM to the current RSS; False where the kernel does not allow it."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _small_cnn(input_shape=(32, 32, 3), classes=10, seed=1, **compile_args):
    model = keras.Sequential([
        keras.Input(input_shape),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, strides=2, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(classes, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], seed=seed, **compile_args)
    return model


class _PeakRss(keras.callbacks.Callback):
    """The largest VmRSS seen at a batch's or an epoch's end."""

    def __init__(self):
        super().__init__()
        self.peak = 0

    def _read(self):
        self.peak = max(self.peak, _status_bytes("VmRSS"))

    def on_train_batch_end(self, batch, logs=None):
        self._read()

    def on_epoch_end(self, epoch, logs=None):
        self._read()


# --- (a) training data is read in place ---------------------------------------------------------

def test_a_200mb_uint8_training_set_is_read_in_place():
    count = 65536  # 65536 x 32 x 32 x 3 bytes = 192 MiB
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, count)
    model = _small_cnn()
    # compile the programs first, on a small array of the same shape
    model.fit(np.zeros((64, 32, 32, 3), np.uint8), y[:64], batch_size=32, steps_per_epoch=2,
              validation_split=0.5, verbose=0)

    x = np.empty((count, 32, 32, 3), np.uint8)
    x[:] = rng.integers(0, 256, (1, 32, 32, 3), dtype=np.uint8)  # every page touched
    x[::7, 5] = 255
    data_bytes = x.nbytes
    before = _rss()
    peak_is_reset = _reset_peak()
    probe = _PeakRss()
    history = model.fit(x, y, batch_size=32, epochs=2, steps_per_epoch=2,
                        validation_split=0.01, callbacks=[probe], verbose=0)
    peak = _status_bytes("VmHWM") if peak_is_reset else probe.peak
    after = _rss()

    assert len(history.history["loss"]) == 2
    allowed = 32 * MiB  # far less than a second copy (192 MiB)
    assert probe.peak - before < allowed, (probe.peak - before) / MiB
    assert peak - before < allowed, (peak - before) / MiB
    assert after - before < allowed, (after - before) / MiB
    assert data_bytes >= 6 * allowed


def test_float32_images_and_a_validation_slice_are_read_in_place():
    count = 8192  # 8192 x 32 x 32 x 3 x 4 bytes = 96 MiB
    rng = np.random.default_rng(1)
    y = rng.integers(0, 10, count)
    model = _small_cnn()
    model.fit(np.zeros((64, 32, 32, 3), np.float32), y[:64], batch_size=32, steps_per_epoch=2,
              validation_split=0.5, verbose=0)
    x = np.empty((count, 32, 32, 3), np.float32)
    x[:] = rng.random((1, 32, 32, 3), dtype=np.float32)
    before = _rss()
    peak_is_reset = _reset_peak()
    probe = _PeakRss()
    model.fit(x, y, batch_size=32, steps_per_epoch=2, callbacks=[probe], verbose=0,
              validation_data=(x[-512:], y[-512:]))
    peak = _status_bytes("VmHWM") if peak_is_reset else probe.peak
    assert peak - before < 24 * MiB, (peak - before) / MiB


# --- (b) no growth over repeated models ---------------------------------------------------------

def test_building_training_and_deleting_models_does_not_grow_memory():
    rng = np.random.default_rng(2)
    x = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 64)

    def cycle(seed):
        model = _small_cnn((16, 16, 3), seed=seed)
        model.fit(x, y, batch_size=32, steps_per_epoch=1, verbose=0)
        assert model.predict(x, verbose=0).shape == (64, 10)
        del model

    cycle(0)
    cycle(1)
    first = _rss()
    readings = []
    for seed in range(2, 30):
        cycle(seed)
        readings.append(_rss())
    growth = readings[-1] - first
    assert growth < 2 * MiB, f"grew {growth / MiB:.2f} MiB over 28 models: " + \
        ", ".join(f"{(r - first) / MiB:.2f}" for r in readings)


# --- (c) a light import -------------------------------------------------------------------------

_IMPORT_PROBE = """
import sys
def rss():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
import numpy
before = rss()
import leantrain
from leantrain import keras
after = rss()
heavy = sorted(m for m in ("tensorflow", "keras", "torch", "jax", "tensorboard")
               if m in sys.modules)
print(after - before, ",".join(heavy))
"""


def test_import_leantrain_adds_at_most_30mb_over_numpy():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [PACKAGE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    result = subprocess.run([sys.executable, "-c", _IMPORT_PROBE], capture_output=True,
                            text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    added, heavy = result.stdout.split(" ")
    assert int(added) <= 30 * MiB, f"import leantrain added {int(added) / MiB:.1f} MiB"
    assert heavy.strip() == ""


# --- (d) memory plans, budgets, batch sizes and profiles ----------------------------------------

def _plan_model(**compile_args):
    model = keras.Sequential([
        keras.Input((32, 32, 3)),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
        keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(10, activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"], seed=3, **compile_args)
    return model


def _steady_bytes(plan):
    """What a memory budget is held against: the persistent block and the step arena."""
    return plan.persistent_bytes + plan.arena_bytes


def test_memory_plan_reports_its_parts_and_prints_a_table():
    plan = _plan_model().memory_plan(32)
    assert plan.batch_size == 32
    assert plan.predicted_peak_bytes > 0
    assert plan.plan == "keep all"
    # trainable parameters: 448 + 2,320 + 4,640 + 330 floats; Adam keeps two slots each
    assert plan.parameters_bytes == 7738 * 4
    assert plan.optimizer_bytes == 2 * plan.parameters_bytes
    assert plan.persistent_bytes >= plan.parameters_bytes + plan.optimizer_bytes
    assert plan.arena_bytes >= plan.train_arena_bytes > 0
    assert plan.predicted_peak_bytes >= _steady_bytes(plan)
    # (32, 32, 32, 16) f32 activations, 2 MiB each, are kept for the backward pass
    assert plan.kept_for_backward_bytes >= 2 * 2 * MiB
    text = str(plan)
    assert text.splitlines()[0] == "Memory plan (batch 32):"
    assert "predicted peak" in text and f"({plan.predicted_peak_bytes} bytes)" in text
    assert len(text.splitlines()) >= 10

    assert _plan_model().memory_plan(64).kept_for_backward_bytes == \
        2 * plan.kept_for_backward_bytes  # activations scale with the batch


def test_fit_under_a_budget_below_keep_all_recomputes_and_trains_the_same():
    keep_all = _plan_model().memory_plan(32)
    # just below what keeping every activation takes, as a string such as "6.9676MiB"
    budget = f"{math.floor((_steady_bytes(keep_all) - 1) / MiB * 1e4) / 1e4:.4f}MiB"
    planned = _plan_model(memory_budget=budget).memory_plan(32)
    assert planned.plan != "keep all"
    assert _steady_bytes(planned) <= planned.memory_budget_bytes < _steady_bytes(keep_all)

    rng = np.random.default_rng(4)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 64)
    free = _plan_model()
    free_history = free.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0).history
    tight = _plan_model()
    tight_history = tight.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0,
                              memory_budget=budget).history
    assert tight.memory_plan(32).plan == planned.plan
    # recomputing activations changes where they live, not what they are
    for key in free_history:
        np.testing.assert_allclose(tight_history[key], free_history[key], rtol=1e-5,
                                   err_msg=key)
    for a, b in zip(tight.get_weights(), free.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_a_new_budget_in_fit_goes_on_with_the_optimizer_state():
    keep_all = _plan_model().memory_plan(32)
    budget = _steady_bytes(keep_all) - 1
    rng = np.random.default_rng(6)
    x = rng.integers(0, 256, (64, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 64)
    whole = _plan_model()
    whole.fit(x, y, batch_size=32, epochs=2, shuffle=False, verbose=0)
    split = _plan_model()
    split.fit(x, y, batch_size=32, epochs=1, shuffle=False, verbose=0)
    split.fit(x, y, batch_size=32, epochs=2, initial_epoch=1, shuffle=False, verbose=0,
              memory_budget=budget)
    assert split.memory_plan(32).plan != "keep all"
    assert split.optimizer.iterations == whole.optimizer.iterations == 4
    # Adam's moments and step count carried over: a fresh optimizer would move every weight by
    # about its learning rate in its first step
    for a, b in zip(split.get_weights(), whole.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_an_impossible_budget_raises_out_of_budget_error_naming_one_that_fits():
    assert issubclass(leantrain.OutOfBudgetError, MemoryError)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 256, (32, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, 32)
    model = _plan_model()
    before = model.get_weights()
    with pytest.raises(leantrain.OutOfBudgetError) as caught:
        model.fit(x, y, batch_size=32, verbose=0, memory_budget="1MiB")
    message = str(caught.value)
    match = re.search(r"a budget of at least ([\d.]+) (KiB|MiB|GiB)", message)
    assert match, message
    assert "1.00 MiB" in message
    for a, b in zip(model.get_weights(), before):  # nothing trained
        np.testing.assert_array_equal(a, b)

    named = float(match.group(1)) * {"KiB": 1 << 10, "MiB": MiB, "GiB": 1 << 30}[match.group(2)]
    history = model.fit(x, y, batch_size=32, verbose=0, memory_budget=int(named * 1.01))
    assert np.isfinite(history.history["loss"][0])


def test_find_batch_size_grows_with_the_budget_and_its_answer_fits():
    model = _plan_model()
    small = leantrain.find_batch_size(model, "64MiB")
    large = leantrain.find_batch_size(model, "256MiB")
    assert isinstance(small, int) and small > 0
    assert large > small
    assert leantrain.find_batch_size(model, 64 * MiB) == small
    # the largest that fits: the planner fits `small` in the budget and not small + 1
    budgeted = _plan_model(memory_budget="64MiB")
    assert _steady_bytes(budgeted.memory_plan(small)) <= 64 * MiB
    with pytest.raises(leantrain.OutOfBudgetError):
        budgeted.memory_plan(small + 1)
    assert leantrain.find_batch_size(model, "16KiB") == 0
    with pytest.raises(ValueError):
        leantrain.find_batch_size(model, "lots")


def test_profile_reports_the_peak_of_a_training_step():
    model = _plan_model()
    text = leantrain.profile(model, 8)
    assert isinstance(text, str)
    assert "batch 8" in text.splitlines()[0]
    rows = [line.split()[0] for line in text.splitlines() if line.strip()]
    for layer in model.layers:  # a row per layer
        assert layer.name in rows, (layer.name, text)
    # the peak as the command line's profile states it: "Peak <bytes> at step <n> of <m> ..."
    assert re.search(r"^Peak [\d.]+ (B|KiB|MiB|GiB) at step \d+ of \d+", text, re.MULTILINE), \
        text


# --- (e) Ctrl-C ---------------------------------------------------------------------------------

_LONG_FIT = """
import numpy as np
from leantrain import keras
rng = np.random.default_rng(0)
x = rng.integers(0, 256, (256, 28, 28, 1), dtype=np.uint8)
y = rng.integers(0, 10, 256)
model = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu"),
                          keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax")])
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
model.fit(x, y, epochs=100000, batch_size=32, verbose=2)
print("fit returned")
"""


def test_ctrl_c_interrupts_fit_with_keyboard_interrupt():
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [PACKAGE_ROOT] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    # A shell that starts a job in the background ignores SIGINT in it; a terminal's Python
    # would have the default handler, so the child gets it back before exec.
    process = subprocess.Popen(
        [sys.executable, "-u", "-c", _LONG_FIT], stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env=env,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        # verbose=2 prints a line per epoch: wait for two, so that training is under way
        lines = []
        deadline = time.monotonic() + 120
        while len([l for l in lines if "loss" in l]) < 2 and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
        assert len([l for l in lines if "loss" in l]) >= 2, (lines, process.poll())
        process.send_signal(signal.SIGINT)
        sent = time.monotonic()
        out, err = process.communicate(timeout=10)
        elapsed = time.monotonic() - sent
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode != 0
    assert "KeyboardInterrupt" in err, err
    assert "fit returned" not in out
    assert elapsed < 5, elapsed
