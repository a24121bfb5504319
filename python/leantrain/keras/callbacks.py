"""keras.callbacks: Keras' callbacks (the engine runs EarlyStopping, ModelCheckpoint, CSVLogger,
LearningRateScheduler, ReduceLROnPlateau and TerminateOnNaN with Keras 3's logic), TensorBoard,
and Callback for subclasses written in Python, whose hooks receive Keras' `logs` dicts."""

import math
import os
import time

from .. import _core


class Callback:
    """Base class of callbacks written in Python. fit() calls on_train_begin(logs),
    on_epoch_begin(epoch, logs), on_train_batch_end(batch, logs), on_epoch_end(epoch, logs) (the
    logs it leaves are what later callbacks and the History see) and on_train_end(logs);
    `self.model` is the model and `self.params` {"verbose", "epochs", "steps"}. Setting
    `self.model.stop_training = True` stops training after the current batch."""

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model):
        self.model = model

    def set_params(self, params):
        self.params = params

    def on_train_begin(self, logs=None): pass
    def on_train_end(self, logs=None): pass
    def on_epoch_begin(self, epoch, logs=None): pass
    def on_epoch_end(self, epoch, logs=None): pass
    def on_train_batch_begin(self, batch, logs=None): pass
    def on_train_batch_end(self, batch, logs=None): pass
    def on_batch_begin(self, batch, logs=None): pass
    def on_batch_end(self, batch, logs=None): pass


class History(Callback):
    """fit()'s return value: `.history` maps each logs key to its value per epoch."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []

    def on_train_begin(self, logs=None):
        self.epoch = []

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
        self.model.history = self


class _EngineCallback(Callback):
    """A callback the engine runs; `_make(model)` returns it."""

    def _make(self, model):
        raise NotImplementedError


def for_engine(callbacks, model, params):
    """What fit() hands the engine, in Keras' order (the callbacks given, then History): the
    engine's own callbacks, and a Dispatcher for each one written in Python."""
    out = []
    for callback in callbacks:
        if isinstance(callback, _EngineCallback):
            made = callback._make(model)
            out.append(made if made is not None else Dispatcher(callback, model, params))
        elif isinstance(callback, Callback):
            out.append(Dispatcher(callback, model, params))
        else:
            raise TypeError(f"callbacks: {callback!r} is not a keras.callbacks.Callback")
    return out


class Dispatcher:
    """What the engine calls for one Python callback: its hooks with Keras' arguments. A hook's
    return value True tells the engine to stop (model.stop_training was set)."""

    def __init__(self, callback, model, params):
        self.callback = callback
        self.model = model
        callback.set_model(model)
        callback.set_params(params)

    def on_train_begin(self):
        self.callback.on_train_begin({})
        return bool(self.model.stop_training)

    def on_epoch_begin(self, epoch):
        self.callback.on_epoch_begin(epoch, {})
        return bool(self.model.stop_training)

    def on_train_batch_end(self, batch, logs):
        self.callback.on_train_batch_end(batch, logs)
        return bool(self.model.stop_training)

    def on_epoch_end(self, epoch, logs):
        self.callback.on_epoch_end(epoch, logs)
        return bool(self.model.stop_training)

    def on_train_end(self, logs):
        self.callback.on_train_end(logs)
        return bool(self.model.stop_training)


class EarlyStopping(_EngineCallback):
    def __init__(self, monitor="val_loss", min_delta=0, patience=0, verbose=0, mode="auto",
                 baseline=None, restore_best_weights=False, start_from_epoch=0):
        super().__init__()
        self._args = (monitor, float(min_delta), int(patience), int(verbose), mode,
                      None if baseline is None else float(baseline),
                      bool(restore_best_weights), int(start_from_epoch))
        self.monitor, self.patience = monitor, patience

    def _make(self, model):
        return _core.early_stopping(*self._args)


class ModelCheckpoint(_EngineCallback):
    """Keras 3's ModelCheckpoint: `filepath` ends in ".keras" (model.save) or, with
    save_weights_only, ".weights.h5" (model.save_weights); leantrain also takes
    ".safetensors". Formatted with epoch and logs as in Keras ("{epoch:02d}-{val_loss:.2f}")."""

    def __init__(self, filepath, monitor="val_loss", verbose=0, save_best_only=False,
                 save_weights_only=False, mode="auto", save_freq="epoch",
                 initial_value_threshold=None):
        super().__init__()
        filepath = os.fspath(filepath)
        if save_freq != "epoch":
            raise NotImplementedError("ModelCheckpoint(save_freq=...) other than 'epoch' is not "
                                      "supported by leantrain")
        if save_weights_only and not filepath.endswith((".weights.h5", ".safetensors")):
            raise ValueError("When using `save_weights_only=True` in `ModelCheckpoint`, the "
                             "filepath provided must end in `.weights.h5` (Keras weights "
                             f"format). Received: filepath={filepath}")
        if not save_weights_only and not filepath.endswith(".keras"):
            raise ValueError("The filepath provided must end in `.keras` (Keras model format). "
                             f"Received: filepath={filepath}")
        self.filepath, self.save_weights_only = filepath, save_weights_only
        self._args = (filepath, monitor, int(verbose), bool(save_best_only), mode,
                      None if initial_value_threshold is None else float(initial_value_threshold))

    def _make(self, model):
        save = model.save_weights if self.save_weights_only else model.save
        return _core.model_checkpoint(*self._args, save)


class CSVLogger(_EngineCallback):
    def __init__(self, filename, separator=",", append=False):
        super().__init__()
        self.filename = os.fspath(filename)
        self._args = (self.filename, separator, bool(append))

    def _make(self, model):
        return _core.csv_logger(*self._args)


class TerminateOnNaN(_EngineCallback):
    """Stops training after a batch whose loss is NaN or infinite; with raise_error, raises
    RuntimeError there instead (as Keras 3)."""

    def __init__(self, raise_error=False):
        super().__init__()
        self.raise_error = raise_error

    def _make(self, model):
        return None if self.raise_error else _core.terminate_on_nan(False)

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(loss):
            raise RuntimeError(f"NaN or Inf loss encountered at batch {batch}. Loss value: "
                               f"{loss}. Terminating training immediately.")


class ReduceLROnPlateau(_EngineCallback):
    def __init__(self, monitor="val_loss", factor=0.1, patience=10, verbose=0, mode="auto",
                 min_delta=1e-4, cooldown=0, min_lr=0.0, **kwargs):
        super().__init__()
        if "epsilon" in kwargs:  # Keras' old name, still accepted
            min_delta = kwargs.pop("epsilon")
        if kwargs:
            raise TypeError(f"ReduceLROnPlateau() got unexpected keyword arguments {sorted(kwargs)}")
        self._args = (monitor, float(factor), int(patience), int(verbose), mode, float(min_delta),
                      int(cooldown), float(min_lr))

    def _make(self, model):
        return _core.reduce_lr_on_plateau(*self._args)


class LearningRateScheduler(_EngineCallback):
    """schedule(epoch, lr) -> new learning rate, called at each epoch's start."""

    def __init__(self, schedule, verbose=0):
        super().__init__()
        self.schedule, self.verbose = schedule, verbose

    def _make(self, model):
        return _core.learning_rate_scheduler(lambda epoch, lr: float(self.schedule(epoch, lr)),
                                             int(self.verbose))


class TensorBoard(Callback):
    """Keras' TensorBoard callback, scalars per epoch (update_freq="epoch"): event files under
    log_dir/train and log_dir/validation with Keras' tags ("epoch_loss", "epoch_accuracy",
    "epoch_learning_rate"), which the `tensorboard` package reads."""

    def __init__(self, log_dir="logs", histogram_freq=0, write_graph=True, write_images=False,
                 write_steps_per_second=False, update_freq="epoch", profile_batch=0,
                 embeddings_freq=0, embeddings_metadata=None):
        super().__init__()
        for argument, value, default in (("histogram_freq", histogram_freq, 0),
                                         ("write_images", write_images, False),
                                         ("update_freq", update_freq, "epoch"),
                                         ("profile_batch", profile_batch, 0),
                                         ("embeddings_freq", embeddings_freq, 0)):
            if value != default:
                raise NotImplementedError(f"TensorBoard({argument}={value!r}) is not supported "
                                          "by leantrain: scalars per epoch only")
        self.log_dir = os.fspath(log_dir)
        self.write_steps_per_second = write_steps_per_second
        self._writers = {}

    def _writer(self, which):
        from ._tensorboard import EventFileWriter
        if which not in self._writers:
            self._writers[which] = EventFileWriter(os.path.join(self.log_dir, which))
        return self._writers[which]

    def on_train_begin(self, logs=None):
        self._epoch_start = time.time()

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        logs = dict(logs or {})
        if self.write_steps_per_second and self.params.get("steps"):
            logs["steps_per_second"] = self.params["steps"] / max(time.time() - self._epoch_start,
                                                                  1e-9)
        from ._tensorboard import keras_epoch_scalars
        logs.pop("learning_rate", None)
        learning_rate = float(self.model.optimizer.learning_rate) \
            if self.model.optimizer is not None and not callable(
                self.model.optimizer._learning_rate) else logs.get("learning_rate")
        for which, scalars in zip(("train", "validation"),
                                  keras_epoch_scalars(logs, learning_rate)):
            for tag, value in scalars.items():
                self._writer(which).add_scalar(tag, float(value), epoch)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}
