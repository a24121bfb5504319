"""The benchmark's side of the Keras training scripts in this directory (cnn.py,
mobilenet_v2.py): options, threads, the Fashion-MNIST files, timing and the JSON report.

Each script runs in two forms, real Keras (`import keras`) and leantrain (`from leantrain import
keras`), whose text differs only in that line (bench/keras_vs_leantrain.py writes both and
checks it). Whatever must differ between the frameworks lives here, behind `setup(keras)`:

- threads: real Keras gets tf.config.threading (intra-op --threads, inter-op 1), as a user
  would set them; both processes also get OMP_NUM_THREADS from the driver.
- Fashion-MNIST: leantrain's keras.datasets.fashion_mnist.load_data() reads Debian's IDX files
  (/usr/share/datasets/fashion-mnist); real Keras' would download them, so the real-Keras
  process reads the same files with leantrain's loader module, loaded by its path
  (python/leantrain/keras/datasets/fashion_mnist.py: numpy and gzip only, no engine).

Not thread-safe; one script per process.
"""

import argparse
import importlib.util
import json
import os
import resource
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FASHION_MNIST_LOADER = os.path.join(ROOT, "python", "leantrain", "keras", "datasets",
                                    "fashion_mnist.py")

_state = {"start": time.perf_counter()}  # process-wide: options, framework, marks


def is_leantrain(keras):
    return keras.__name__.startswith("leantrain")


def setup(keras):
    """Parses the script's options from sys.argv, configures the framework's threads and
    returns the options (jit_compile is "auto", Keras' default, unless --jit-compile).

    Raises SystemExit on an unknown option, and ValueError when an option asks leantrain for
    something only real Keras has (--jit-compile, --mixed-bfloat16).
    """
    ap = argparse.ArgumentParser(description="one side of bench/keras_vs_leantrain.py")
    ap.add_argument("--report", required=True, help="JSON file this process writes")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=3, help="cnn.py")
    ap.add_argument("--train-subset", type=int, default=0,
                    help="cnn.py: train on the first N training images (0: all 60,000)")
    ap.add_argument("--steps", type=int, default=20, help="mobilenet_v2.py")
    ap.add_argument("--image-size", type=int, default=224, help="mobilenet_v2.py")
    ap.add_argument("--jit-compile", action="store_true", help="real Keras: compile with XLA")
    ap.add_argument("--mixed-bfloat16", action="store_true",
                    help='real Keras: keras.mixed_precision.set_global_policy("mixed_bfloat16")')
    options = ap.parse_args()
    options.jit_compile = True if options.jit_compile else "auto"
    _state["options"] = options
    _state["framework"] = "leantrain" if is_leantrain(keras) else "keras"
    if is_leantrain(keras):
        if options.jit_compile is True or options.mixed_bfloat16:
            raise ValueError("--jit-compile and --mixed-bfloat16 are real Keras' options; "
                             "leantrain runs without them")
        import leantrain
        core = os.path.realpath(leantrain._core.__file__)
        _state["versions"] = {"leantrain": leantrain.__version__,
                              "keras_api": keras.__version__, "core_module": core,
                              "core_module_mtime": time.strftime(
                                  "%Y-%m-%dT%H:%M:%S%z", time.localtime(os.path.getmtime(core)))}
    else:
        import tensorflow as tf
        tf.config.threading.set_intra_op_parallelism_threads(options.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        _state["versions"] = {"keras": keras.__version__, "tensorflow": tf.__version__,
                              "backend": keras.backend.backend()}
    return options


def load_fashion_mnist(keras):
    """keras.datasets.fashion_mnist.load_data() from Debian's files, for either framework (see
    the file comment); with --train-subset, the first N training images only."""
    if is_leantrain(keras):
        (x_train, y_train), (x_test, y_test) = keras.datasets.fashion_mnist.load_data()
    else:
        spec = importlib.util.spec_from_file_location("fashion_mnist_files", FASHION_MNIST_LOADER)
        loader = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(loader)
        (x_train, y_train), (x_test, y_test) = loader.load_data()
    n = _state["options"].train_subset
    if n:
        x_train, y_train = x_train[:n], y_train[:n]
    return (x_train, y_train), (x_test, y_test)


def mark_data_ready(*arrays):
    """Records the resident set once the data is in memory and before the model is built, and
    the bytes of `arrays` (the training inputs the script holds)."""
    _state["rss_before_model_bytes"] = _proc_status_bytes("VmRSS")
    _state["data_bytes"] = int(sum(a.nbytes for a in arrays))


def TrainingTimer(keras, samples, batch_size):
    """A keras.callbacks.Callback (of the framework given) that timestamps each epoch's start
    and each training batch's end, for fit() on `samples` inputs in batches of `batch_size`
    (after validation_split). Validation, which runs after an epoch's last batch, is outside
    every timed span."""

    class Timer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.samples, self.batch_size = samples, batch_size
            self.train_begin = self.train_end = None
            self.epoch_begins = []  # perf_counter() at each epoch's start
            self.batch_ends = []  # per epoch, perf_counter() at each batch's end
            self.epoch_logs = []

        def on_train_begin(self, logs=None):
            self.train_begin = time.perf_counter()

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch_begins.append(time.perf_counter())
            self.batch_ends.append([])

        def on_train_batch_end(self, batch, logs=None):
            self.batch_ends[-1].append(time.perf_counter())

        def on_epoch_end(self, epoch, logs=None):
            self.epoch_logs.append({k: float(v) for k, v in (logs or {}).items()})

        def on_train_end(self, logs=None):
            self.train_end = time.perf_counter()

    return Timer()


def report(timer, **figures):
    """Writes the process's JSON report (--report): images/s, the spans it comes from, memory,
    versions and `figures` (e.g. test_accuracy). Returns the report as a dict.

    images_per_second is the steady rate: epochs 2.. when there are two or more, otherwise the
    first epoch without its first step (where TensorFlow traces and compiles, and leantrain
    plans); images_per_second_all counts every training step.
    """
    options = _state["options"]
    per_batch = [min(timer.batch_size, timer.samples - k * timer.batch_size)
                 for k in range(-(-timer.samples // timer.batch_size))]
    epochs = []
    for begin, ends, logs in zip(timer.epoch_begins, timer.batch_ends, timer.epoch_logs):
        if len(ends) != len(per_batch):
            raise RuntimeError(f"an epoch ran {len(ends)} batches; {timer.samples} samples in "
                               f"batches of {timer.batch_size} make {len(per_batch)}")
        seconds = ends[-1] - begin
        epochs.append({"training_seconds": seconds, "images": timer.samples,
                       "images_per_second": timer.samples / seconds, "logs": logs})
    first = timer.batch_ends[0]
    if len(epochs) >= 2:
        steady_images = sum(e["images"] for e in epochs[1:])
        steady_seconds = sum(e["training_seconds"] for e in epochs[1:])
        steady_span = "epochs 2.."
    else:
        steady_images = timer.samples - per_batch[0]
        steady_seconds = first[-1] - first[0]
        steady_span = "steps 2.."
    all_seconds = sum(e["training_seconds"] for e in epochs)
    result = {
        "framework": _state["framework"],
        "versions": _state["versions"],
        "options": {k: v for k, v in vars(options).items() if k != "report"},
        "threads": {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS")},
        "images_per_second": steady_images / steady_seconds,
        "steady_span": steady_span,
        "steady_images": steady_images,
        "steady_seconds": steady_seconds,
        "images_per_second_all": timer.samples * len(epochs) / all_seconds,
        "first_step_seconds": first[0] - timer.epoch_begins[0],
        "fit_seconds": timer.train_end - timer.train_begin,
        "script_seconds": time.perf_counter() - _state["start"],
        "epochs": epochs,
        "rss_before_model_bytes": _state.get("rss_before_model_bytes"),
        "data_bytes": _state.get("data_bytes"),
        "vm_hwm_bytes": _proc_status_bytes("VmHWM"),
        "ru_maxrss_self_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **figures,
    }
    if _state["framework"] == "keras":
        import tensorflow as tf
        result["threads"].update(
            intra_op=tf.config.threading.get_intra_op_parallelism_threads(),
            inter_op=tf.config.threading.get_inter_op_parallelism_threads())
    with open(options.report, "w") as f:
        json.dump(result, f, indent=2)
    print(f"{_state['framework']}: {result['images_per_second']:.1f} images/s ({steady_span}), "
          f"first step {result['first_step_seconds']:.2f} s, VmHWM "
          f"{result['vm_hwm_bytes'] / 2**20:.1f} MiB", file=sys.stderr)
    return result


def _proc_status_bytes(field):
    """A kB field of /proc/self/status (VmRSS, VmHWM) in bytes."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/self/status has no {field}")
