"""keras.Model and keras.Sequential on leantrain's engine.

The architecture lives in Python as Keras layers (the config a user can read and change); the
engine builds its own model from the Keras 3 JSON of that config (`_core.Model.from_json`), and
a `_core.Trainer` holds the weights, the optimizer state and the compiled programs. Arrays are
passed to the engine as they are (uint8 or float32, C order): batches are assembled straight
from them into the training step's input slot.
"""

import json
import os
import random

import numpy as np

from .. import _core
from . import _graph
from . import callbacks as callbacks_module
from . import losses as losses_module
from . import metrics as metrics_module
from . import optimizers as optimizers_module
from .utils import PyDataset
from .utils._image_dataset import ImageDataset

_MEMORY_UNITS = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3,
                 "kib": 1024, "mib": 1024**2, "gib": 1024**3}


def parse_bytes(value, what="memory_budget"):
    """Bytes from an int or a string such as "600MiB", "1.5GiB", "512MB"."""
    if value is None:
        return 0
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        if value < 0:
            raise ValueError(f"{what}={value}: give a non-negative number of bytes")
        return int(value)
    if isinstance(value, str):
        text = value.strip().replace(" ", "")
        number = text.rstrip("KMGiBkmgib")
        unit = text[len(number):].lower()
        if unit in _MEMORY_UNITS and number:
            try:
                return int(float(number) * _MEMORY_UNITS[unit])
            except ValueError:
                pass
    raise ValueError(f"{what}={value!r}: give bytes as an int or a string such as "
                     "'600MiB', '1.5GiB' or '512MB'")


class Model:
    """keras.Model: `keras.Model(inputs, outputs, name=None)` (the functional API).

    Subclassing keras.Model with a Python `call()` is not supported: leantrain compiles the
    whole step ahead of time from the layer graph.
    """

    def __init__(self, inputs=None, outputs=None, name=None, trainable=True, **kwargs):
        if type(self) is not Model and not isinstance(self, Sequential) and inputs is None:
            raise NotImplementedError(
                f"{type(self).__name__}: subclassed models with a call() method are not "
                "supported by leantrain; build the model with keras.Model(inputs, outputs) or "
                "keras.Sequential")
        unknown = set(kwargs) - {"dtype"}
        if unknown:
            raise TypeError(f"Model() got unexpected keyword arguments {sorted(unknown)}")
        self._init_state(name or _graph.auto_name("functional"), trainable)
        if inputs is not None or outputs is not None:
            if inputs is None or outputs is None:
                raise ValueError("keras.Model(inputs, outputs): give both")
            self._inputs, self._outputs = inputs, outputs
            self._layers = _graph.functional_layers(inputs, outputs)

    def _init_state(self, name, trainable):
        self.name = name
        self.trainable = trainable
        self.stop_training = False
        self.history = None
        self._engine = None  # _core.Model
        self._trainer = None  # _core.Trainer
        self._compile = None  # the compile() arguments, resolved
        self._compile_config = None
        self._batch_size = 32  # of the last fit, for summary()'s memory columns
        self._carried_weights = None  # {layer: arrays} across a Sequential's add() and pop()

    # --- the architecture -------------------------------------------------------------------

    @property
    def layers(self):
        return list(self._layers)

    def get_layer(self, name=None, index=None):
        if index is not None:
            return self.layers[index]
        for layer in self._layers:
            if layer.name == name:
                return layer
        raise ValueError(f"No such layer: {name}. Existing layers are: "
                         f"{[layer.name for layer in self._layers]}.")

    @property
    def inputs(self):
        return self._inputs if isinstance(self._inputs, list) else [self._inputs]

    @property
    def outputs(self):
        return self._outputs if isinstance(self._outputs, list) else [self._outputs]

    def _config_dict(self):
        return _graph.functional_config(self._inputs, self._outputs, name=self.name,
                                        trainable=self.trainable,
                                        compile_config=self._compile_config)

    def get_config(self):
        return self._config_dict()["config"]

    def to_json(self, **kwargs):
        """Keras 3's model.to_json()."""
        return json.dumps(self._config_dict(), **kwargs)

    def _engine_model(self):
        if self._engine is None:
            self._engine = _core.Model.from_json(self.to_json())
        return self._engine

    @property
    def input_shape(self):
        return (None,) + tuple(self._engine_model().input_shape)

    @property
    def output_shape(self):
        return (None,) + tuple(self._engine_model().output_shape)

    def count_params(self):
        return self._engine_model().count_params(True) + self._engine_model().count_params(False)

    # --- compile and the engine's trainer ------------------------------------------------------

    def compile(self, optimizer="rmsprop", loss=None, loss_weights=None, metrics=None,
                weighted_metrics=None, run_eagerly=False, steps_per_execution=1,
                jit_compile="auto", auto_scale_loss=True, *, memory_budget=None,
                micro_batches=1, bf16_storage=False, allocator="preallocate",
                memory_limit=None, seed=None):
        """Keras' compile(); the keyword-only arguments are leantrain's memory options:
        memory_budget ("600MiB": the planner keeps, stores in bf16 or recomputes activations to
        fit), micro_batches (an int, or "auto" under a budget), bf16_storage, allocator
        ("preallocate" or "grow", as TensorFlow's memory growth), memory_limit and seed."""
        for argument, value, default in (("loss_weights", loss_weights, None),
                                         ("weighted_metrics", weighted_metrics, None),
                                         ("steps_per_execution", steps_per_execution, 1)):
            if value != default:
                raise NotImplementedError(f"compile({argument}={value!r}) is not supported by "
                                          "leantrain")
        if loss is None:
            raise ValueError("compile(): give a loss, e.g. loss='sparse_categorical_crossentropy'")
        loss_object = losses_module.get(loss)
        self._compile = {
            "optimizer": optimizers_module.get(optimizer),
            "loss": loss_object,
            "metrics": metrics_module.resolve(metrics or []),
            "memory_budget": parse_bytes(memory_budget),
            "micro_batches": 0 if micro_batches == "auto" else int(micro_batches),
            "bf16_storage": bool(bf16_storage),
            "allocator": allocator,
            "memory_limit": parse_bytes(memory_limit, "memory_limit"),
            "seed": _seed(seed),
        }
        self._compile_config = {
            "optimizer": self._compile["optimizer"].get_config_entry(),
            "loss": loss_object.serialized(),
            "loss_weights": None,
            "metrics": None if metrics is None else [
                m if isinstance(m, str) else metrics_module.serialize(m) for m in metrics],
            "weighted_metrics": None,
            "run_eagerly": False, "steps_per_execution": 1, "jit_compile": jit_compile,
        }
        self._rebuild_trainer()

    @property
    def compiled(self):
        return self._compile is not None

    @property
    def optimizer(self):
        return self._compile["optimizer"] if self._compile else None

    def _rebuild_trainer(self, keep_optimizer_state=False, **overrides):
        """(Re)creates the engine's trainer with the compile options (and `overrides`), carrying
        the current weights over, and with keep_optimizer_state the optimizer's state, step
        count and learning rate too (the same optimizer under another plan)."""
        old = self._trainer
        weights = old.get_weights() if old is not None and not keep_optimizer_state else None
        c = dict(self._compile or _default_compile())
        c.update(overrides)
        optimizer = c["optimizer"]
        self._trainer = _core.Trainer(
            self._engine_model(), optimizer._engine(), c["loss"].engine_name,
            c["loss"].from_logits, [m.engine_spec() for m in c["metrics"]], c["seed"],
            c["memory_budget"], c["micro_batches"], c["bf16_storage"], c["allocator"],
            c["memory_limit"])
        self._trainer_options = c
        optimizer._trainer = self._trainer
        if weights is not None:
            self._trainer.set_weights(weights)
        elif old is not None:
            self._trainer.copy_training_state(old)
        elif self._carried_weights:
            self._set_carried_weights()

    def _set_carried_weights(self):
        """Gives the layers that stayed through a change of a Sequential's layers their weights
        from before it; new layers keep their initial values."""
        carried, self._carried_weights = self._carried_weights, None
        weights, index = self._trainer.get_weights(), {}
        for i, (layer, _, shape, _) in enumerate(self._engine_model().variables()):
            position = index[layer] = index.get(layer, -1) + 1
            values = carried.get(layer, [])
            if position < len(values) and values[position].shape == tuple(shape):
                weights[i] = values[position]
        self._trainer.set_weights(weights)

    def _ensure_trainer(self):
        if self._trainer is None:
            self._rebuild_trainer()
        return self._trainer

    def _require_compiled(self, what):
        if self._compile is None:
            raise ValueError(f"You must call `compile()` before using the model ({what}).")

    # --- training and inference ---------------------------------------------------------------

    def fit(self, x=None, y=None, batch_size=None, epochs=1, verbose="auto", callbacks=None,
            validation_split=0.0, validation_data=None, shuffle=True, class_weight=None,
            sample_weight=None, initial_epoch=0, steps_per_epoch=None, validation_steps=None,
            validation_batch_size=None, validation_freq=1, *, memory_budget=None):
        """Keras' fit() on numpy arrays (x (samples, height, width, channels) uint8 or float32,
        read in place; y class ids or one-hot rows), a PyDataset or generator of such batches,
        or an image_dataset_from_directory dataset. memory_budget ("600MiB") re-plans the step
        to fit it when it differs from compile()'s; training goes on from the same weights and
        optimizer state."""
        self._require_compiled("fit")
        for argument, value, default in (("class_weight", class_weight, None),
                                         ("sample_weight", sample_weight, None),
                                         ("validation_steps", validation_steps, None),
                                         ("validation_batch_size", validation_batch_size, None),
                                         ("validation_freq", validation_freq, 1)):
            if (value is not None) if default is None else (value != default):
                raise NotImplementedError(f"fit({argument}=...) is not supported by leantrain")
        if memory_budget is not None:
            budget = parse_bytes(memory_budget)
            if budget != self._trainer_options["memory_budget"]:
                self._rebuild_trainer(keep_optimizer_state=True, memory_budget=budget)
        verbose = 1 if verbose == "auto" else int(verbose)
        if isinstance(validation_data, ImageDataset):
            if not isinstance(x, ImageDataset):
                raise NotImplementedError("fit(): validation_data as a dataset needs x as a "
                                          "dataset too")
        elif isinstance(x, ImageDataset) or _is_batches(x):
            if validation_split:
                raise ValueError("validation_split is only supported for arrays, as in Keras")
        if isinstance(x, ImageDataset):
            return self._fit_on(lambda c: self._trainer.fit_dataset(
                x._engine, epochs, None if validation_data is None else validation_data._engine,
                c, initial_epoch, steps_per_epoch or 0, verbose),
                callbacks, verbose, epochs, steps_per_epoch or x.cardinality())
        if _is_batches(x):
            source = _Batches(x, self, steps_per_epoch)
            vx, vy = self._validation_arrays(validation_data)
            return self._fit_on(lambda c: self._trainer.fit_batches(
                source, epochs, vx, vy, c, initial_epoch, steps_per_epoch or 0, verbose),
                callbacks, verbose, epochs, steps_per_epoch or source.num_batches)
        x = _images(x, "x")
        y = self._labels(y, len(x), "y")
        validation = None
        if validation_data is not None:
            validation = self._validation_arrays(validation_data)
        elif validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"validation_split={validation_split}: use a fraction in (0, 1)")
            split = int(len(x) * (1.0 - validation_split))  # Keras: the last samples
            validation = (x[split:], y[split:])
            x, y = x[:split], y[:split]
        batch_size = 32 if batch_size is None else int(batch_size)
        self._batch_size = batch_size
        return self._fit_on(lambda c: self._trainer.fit(
            x, y, batch_size, epochs, bool(shuffle), None if validation is None else validation[0],
            None if validation is None else validation[1], c, initial_epoch,
            steps_per_epoch or 0, verbose),
            callbacks, verbose, epochs, steps_per_epoch or -(-len(x) // batch_size))

    def _fit_on(self, run, callbacks, verbose, epochs, steps):
        """Runs run(callbacks as the engine takes them, History last) and returns the
        History."""
        history = callbacks_module.History()
        params = {"verbose": verbose, "epochs": epochs, "steps": steps}
        self.stop_training = False
        run(callbacks_module.for_engine(list(callbacks or []) + [history], self, params))
        self._fitted = True
        self.history = history
        return history

    def _validation_arrays(self, validation_data):
        if validation_data is None:
            return None, None
        vx = _images(validation_data[0], "validation_data x")
        return vx, self._labels(validation_data[1], len(vx), "validation_data y")

    def evaluate(self, x=None, y=None, batch_size=None, verbose="auto", sample_weight=None,
                 steps=None, callbacks=None, return_dict=False):
        self._require_compiled("evaluate")
        if sample_weight is not None or steps is not None:
            raise NotImplementedError("evaluate(sample_weight=..., steps=...) is not supported "
                                      "by leantrain")
        if isinstance(x, ImageDataset):
            logs = self._trainer.evaluate_dataset(x._engine)
        else:
            x = _images(x, "x")
            logs = self._trainer.evaluate(x, self._labels(y, len(x), "y"),
                                          32 if batch_size is None else int(batch_size))
        names = ["loss"] + [m.name for m in self._compile["metrics"]]
        if return_dict:
            return {name: logs[name] for name in names}
        values = [logs[name] for name in names]
        return values[0] if len(values) == 1 else values

    def predict(self, x, batch_size=None, verbose="auto", steps=None, callbacks=None):
        if steps is not None:
            raise NotImplementedError("predict(steps=...) is not supported by leantrain")
        return self._ensure_trainer().predict(_images(x, "x"),
                                              32 if batch_size is None else int(batch_size))

    def __call__(self, x, training=False):
        if isinstance(x, _graph.KerasTensor):
            raise NotImplementedError("calling a leantrain model on a symbolic tensor (nested "
                                      "models) is not supported; add its layers instead")
        return self.predict(np.asarray(x))

    def _labels(self, y, count, what):
        if y is None:
            raise ValueError(f"{what}: labels are required")
        loss = (self._compile or _default_compile())["loss"]
        return loss.class_ids(np.asarray(y), count, self.output_shape[-1], what)

    # --- weights, files and reports -----------------------------------------------------------

    def get_weights(self):
        return self._ensure_trainer().get_weights()

    def set_weights(self, weights):
        expected = self._engine_model().variables()
        weights = list(weights)
        if len(weights) != len(expected):
            raise ValueError(f"set_weights: the model has {len(expected)} weights, "
                             f"got {len(weights)}")
        arrays = []
        for w, (layer, variable, shape, _) in zip(weights, expected):
            w = np.ascontiguousarray(w, dtype=np.float32)
            if tuple(w.shape) != tuple(shape):
                raise ValueError(f"set_weights: {layer}/{variable} has shape {tuple(shape)}, "
                                 f"got {tuple(w.shape)}")
            arrays.append(w)
        self._ensure_trainer().set_weights(arrays)

    @property
    def weights(self):
        return self.get_weights()

    def _weights_by_layer(self):
        """[(layer name, arrays)] in Keras' model.layers order (a Sequential's input layer left
        out), as the Keras files hold them: Normalization's count as int64."""
        config = self._config_dict()
        config.pop("compile_config", None)
        by_layer = {}
        for (layer, _, _, _), value in zip(self._engine_model().variables(), self.get_weights()):
            by_layer.setdefault(layer, []).append(value)
        out = []
        for entry in _keras_layers(config):
            values = by_layer.get(entry["config"]["name"], [])
            if entry["class_name"] == "Normalization" and len(values) == 3:
                values[2] = np.asarray(values[2], dtype=np.int64)
            out.append((entry["config"]["name"], values))
        return config, out

    def save(self, filepath, overwrite=True, zipped=None, **kwargs):
        """Keras 3's model.save(): a `.keras` zip (config.json, metadata.json, model.weights.h5)
        that real Keras 3 loads."""
        from . import _saving
        filepath = os.fspath(filepath)
        if not filepath.endswith(".keras"):
            raise ValueError(f"Invalid filepath extension for saving: {filepath!r}. leantrain "
                             "saves the native Keras format: add the extension '.keras'")
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        config, weights = self._weights_by_layer()
        _saving.write_keras_archive(filepath, config, weights, self._compile_config)

    def save_weights(self, filepath, overwrite=True):
        """`.weights.h5` as Keras 3 writes it, or `.safetensors` (leantrain's own)."""
        from . import _saving
        filepath = os.fspath(filepath)
        if not overwrite and os.path.exists(filepath):
            raise FileExistsError(f"{filepath} exists and overwrite=False")
        if filepath.endswith(".safetensors"):
            self._ensure_trainer().save_weights(filepath)
        elif filepath.endswith(".weights.h5"):
            _saving.write_weights_h5(filepath, *self._weights_by_layer())
        else:
            raise ValueError(f"save_weights({filepath!r}): the filename must end in "
                             "'.weights.h5' (Keras') or '.safetensors'")

    def load_weights(self, filepath, skip_mismatch=False):
        from . import _saving
        filepath = os.fspath(filepath)
        if filepath.endswith(".safetensors"):
            self._ensure_trainer().load_weights(filepath)
            return
        if filepath.endswith(".keras"):
            _, by_layer, _ = _saving.read_keras_archive(filepath)
        elif filepath.endswith(".weights.h5"):
            by_layer = _saving.read_weights_h5(filepath, self._config_dict())
        else:
            raise ValueError(f"load_weights({filepath!r}): use a '.weights.h5', '.keras' or "
                             "'.safetensors' file")
        self._set_weights_by_layer(by_layer, filepath)

    def _set_weights_by_layer(self, by_layer, source):
        """Sets the weights from {layer name: arrays} (a Keras file's), checking every layer."""
        counts = {}
        for layer, _, _, _ in self._engine_model().variables():
            counts[layer] = counts.get(layer, 0) + 1
        weights = []
        for entry in _keras_layers(self._config_dict()):
            name = entry["config"]["name"]
            values = list(by_layer.get(name, []))
            if len(values) != counts.get(name, 0):
                raise ValueError(f"{source}: layer '{name}' has {len(values)} weights in the "
                                 f"file but {counts.get(name, 0)} in the model")
            weights.extend(values)
        self.set_weights(weights)

    def summary(self, line_length=None, positions=None, print_fn=None, expand_nested=False,
                show_trainable=False, layer_range=None):
        """Keras 3's table, plus leantrain's memory columns at the last fit's batch size (32
        before any fit): what each layer keeps for the backward pass, and its share of the
        planned peak."""
        text = self._ensure_trainer().summary(self._batch_size, self._optimizer_params())
        (print_fn or print)(text.rstrip("\n"))

    def _optimizer_params(self):
        """Keras' count of the optimizer's variables once a fit built them (0 before): its
        iteration counter, its learning rate and its slots per trainable weight."""
        if not getattr(self, "_fitted", False) or self._compile is None:
            return 0
        trainable = self._engine_model().count_params(True)
        return 2 + self._compile["optimizer"]._slots_per_weight() * trainable

    def memory_plan(self, batch_size):
        """What training at `batch_size` takes, known before the first step: the breakdown as
        attributes (persistent_bytes, arena_bytes, predicted_peak_bytes, plan, ...), the table
        as str()."""
        return self._ensure_trainer().plan(int(batch_size))


class Sequential(Model):
    """keras.Sequential(layers=None, trainable=True, name=None)."""

    def __init__(self, layers=None, trainable=True, name=None):
        self._init_state(name or _graph.auto_name("sequential"), trainable)
        self._seq_layers = []
        for layer in layers or []:
            self.add(layer)

    def add(self, layer, rebuild=True):
        if isinstance(layer, _graph.KerasTensor):
            layer = _graph.input_layer_of(layer)
        self._forget_engine()
        self._seq_layers.append(layer)

    def pop(self, rebuild=True):
        self._forget_engine()
        return self._seq_layers.pop()

    def _forget_engine(self):
        """Drops the engine's model and trainer before the layers change, keeping the weights
        of every layer by name: those that stay get them back when the engine is rebuilt (in
        Keras, layers own their weights)."""
        if self._trainer is not None:
            carried = {}
            for (layer, _, _, _), value in zip(self._engine.variables(),
                                               self._trainer.get_weights()):
                carried.setdefault(layer, []).append(value)
            self._carried_weights = carried
        self._engine = None
        self._trainer = None

    @property
    def _layers(self):
        return [layer for layer in self._seq_layers if not _graph.is_input_layer(layer)]

    @property
    def inputs(self):
        return [_graph.sequential_input(self._seq_layers)]

    @property
    def outputs(self):
        raise NotImplementedError("Sequential.outputs: use model.output_shape")

    def _config_dict(self):
        return _graph.sequential_config(self._seq_layers, name=self.name,
                                        trainable=self.trainable,
                                        compile_config=self._compile_config)


def _keras_layers(config):
    """The entries of Keras' model.layers in a serialized model: its config's layers, less a
    Sequential's leading InputLayer."""
    entries = config["config"]["layers"]
    if config["class_name"] == "Sequential" and entries and \
            entries[0]["class_name"] == "InputLayer":
        entries = entries[1:]
    return entries


def _default_compile():
    return {"optimizer": optimizers_module.get("adam"),
            "loss": losses_module.get("sparse_categorical_crossentropy"),
            "metrics": [], "memory_budget": 0, "micro_batches": 1, "bf16_storage": False,
            "allocator": "preallocate", "memory_limit": 0, "seed": _seed(None)}


_global_seed = None


def set_random_seed(seed):
    """keras.utils.set_random_seed: fixes initialization, shuffling and dropout of models
    built afterwards."""
    global _global_seed
    _global_seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)


def _seed(seed):
    if seed is not None:
        return int(seed)
    if _global_seed is not None:
        return _global_seed
    return random.getrandbits(32)


def _images(x, what):
    """x as the engine reads it: uint8 or float32, C order, (samples, height, width, channels).
    Other dtypes are converted to float32 (a copy, as Keras makes one)."""
    if x is None:
        raise ValueError(f"{what}: give the images as a numpy array")
    x = np.asarray(x)
    if x.dtype != np.uint8 and x.dtype != np.float32:
        x = x.astype(np.float32)
    if x.ndim != 4:
        raise ValueError(f"{what} has shape {x.shape}; leantrain takes images as (samples, "
                         "height, width, channels): add the channel axis with "
                         "np.expand_dims(x, -1)")
    return np.ascontiguousarray(x)


def _is_batches(x):
    """True for what fit() reads batch by batch: a PyDataset, a generator or an iterator."""
    return isinstance(x, PyDataset) or (hasattr(x, "__next__") and not isinstance(x, np.ndarray))


class _Batches:
    """A PyDataset or a generator as the engine's batch source (num_batches, start_epoch(epoch),
    next() -> None or (x, y) as the engine reads them). A PyDataset is read from its first batch
    each epoch (on_epoch_end between epochs, as Keras); a generator goes on where it stopped."""

    def __init__(self, data, model, steps_per_epoch):
        self.data, self.model = data, model
        if isinstance(data, PyDataset):
            self.num_batches = data.num_batches if data.num_batches is not None else -1
        else:
            self.num_batches = -1
        if steps_per_epoch is not None:
            self.num_batches = min(self.num_batches, steps_per_epoch) \
                if self.num_batches >= 0 else steps_per_epoch
        self.index = 0

    def start_epoch(self, epoch):
        if isinstance(self.data, PyDataset):
            if epoch > 0 or self.index > 0:
                self.data.on_epoch_end()
            self.data.on_epoch_begin()
        self.index = 0

    def next(self):
        if 0 <= self.num_batches <= self.index:
            return None
        try:
            batch = self.data[self.index] if isinstance(self.data, PyDataset) else next(self.data)
        except (StopIteration, IndexError):
            return None
        self.index += 1
        if not isinstance(batch, tuple) or len(batch) not in (2, 3):
            raise ValueError("fit(): each batch must be a tuple (x, y) or (x, y, sample_weight), "
                             f"got {type(batch).__name__}")
        if len(batch) == 3 and batch[2] is not None:
            raise NotImplementedError("fit(): sample weights are not supported by leantrain")
        x = _images(batch[0], "a batch's x")
        return x, self.model._labels(batch[1], len(x), "a batch's y")
