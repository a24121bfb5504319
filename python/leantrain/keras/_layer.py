"""The base of leantrain.keras layers and the argument checks they share.

`Layer` holds what every Keras layer has: a name (auto-generated per class as
Keras does), the calls made on it (`_inbound_nodes`), the input shape of its
first call (its build_config), and a table-driven `get_config()`. The helpers
turn Keras arguments into the values Keras keeps (`_tuple` is standardize_tuple,
`_activation` activations.get + serialize, ...) and refuse, with
NotImplementedError naming the argument, its value and what works, those the
engine cannot honour.
"""

import warnings

import numpy as np

from . import initializers, regularizers
from ._graph import KerasTensor, Node, auto_name

_CHANNELS_LAST = ("leantrain keeps images channels_last (NHWC); pass "
                  "data_format=\"channels_last\" or leave it None")
_NO_CONSTRAINTS = "leantrain has no weight constraints; leave it None"
_KERNEL_REGULARIZER_ONLY = "leantrain regularizes kernels only (kernel_regularizer L2)"

# Activations by Keras name; "swish" is Keras' alias of "silu".
_ACTIVATIONS = ("relu", "relu6", "sigmoid", "tanh", "silu", "softmax", "linear")
_KERAS_ONLY_ACTIVATIONS = (
    "leaky_relu", "celu", "elu", "selu", "softplus", "softsign", "squareplus", "soft_shrink",
    "sparse_plus", "gelu", "glu", "tanh_shrink", "threshold", "sparse_sigmoid", "exponential",
    "hard_sigmoid", "hard_silu", "hard_swish", "hard_tanh", "hard_shrink", "mish",
    "log_softmax", "log_sigmoid", "sparsemax")


def dtype_policy_config():
    """dtype_policies.serialize() of the float32 policy every leantrain layer has."""
    return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
            "registered_name": None}


def _unsupported(where, arg, value, works):
    raise NotImplementedError(f"{where}: {arg}={value!r} is not supported by leantrain; {works}")


def _check_dtype(where, dtype):
    # None, "float32", np.float32, or a float32 policy (a config's dtype).
    name = dtype
    if isinstance(dtype, dict):
        name = (dtype.get("config") or {}).get("name")
    elif dtype is not None and not isinstance(dtype, str):
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = dtype
    if name not in (None, "float32"):
        _unsupported(where, "dtype", dtype, "its layers compute and keep float32; use "
                     "dtype=\"float32\" or leave it None")


def _activation(where, value):
    """The Keras name of an activation given by name, None (linear) or function."""
    name = value
    if value is None:
        return "linear"
    if callable(value) and not isinstance(value, str):
        name = getattr(value, "__name__", value)
    if name == "swish":
        return "silu"
    if name in _ACTIVATIONS:
        return name
    works = "use " + ", ".join(_ACTIVATIONS) + " (or None)"
    if name in _KERAS_ONLY_ACTIVATIONS:
        _unsupported(where, "activation", value, works)
    raise ValueError(f"{where}: could not interpret activation function identifier: "
                     f"{value!r}; {works}")


def _tuple(value, n, name, allow_zero=False):
    """Keras' standardize_tuple: an int repeated n times, or n ints; all > 0 (>= 0)."""
    message = f"The `{name}` argument must be a tuple of {n} integers. Received {name}={value}"
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        values = (value,) * n
    else:
        try:
            values = tuple(value)
        except TypeError:
            raise ValueError(message) from None
        if len(values) != n or not all(isinstance(v, (int, np.integer)) and
                                       not isinstance(v, bool) for v in values):
            raise ValueError(message)
    if any(v < 0 or (v == 0 and not allow_zero) for v in values):
        raise ValueError(f"{message}, including values that do not satisfy `value "
                         f"{'>= 0' if allow_zero else '> 0'}`")
    return values


def _padding(value):
    if not isinstance(value, str) or value.lower() not in ("valid", "same"):
        raise ValueError("The `padding` argument must be one of {'valid', 'same'}. "
                         f"Received: {value!r}")
    return value.lower()


def _data_format(where, value):
    if value is None:
        return "channels_last"
    value = str(value).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={value}")
    if value != "channels_last":
        _unsupported(where, "data_format", value, _CHANNELS_LAST)
    return value


def _positive_int(where, name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{where}: invalid value for argument `{name}`. Expected a strictly "
                         f"positive integer. Received {name}={value!r}")
    return int(value)


def _no_regularizer(where, name, value):
    if value is not None:
        _unsupported(where, name, value, _KERNEL_REGULARIZER_ONLY)


def _no_constraint(where, name, value):
    if value is not None:
        _unsupported(where, name, value, _NO_CONSTRAINTS)


def _serialize(value):
    if isinstance(value, initializers.Initializer):
        return initializers.serialize(value)
    if isinstance(value, regularizers.Regularizer):
        return regularizers.serialize(value)
    return value


def _incompatible(layer, detail, shape):
    raise ValueError(f'Input 0 of layer "{layer.name}" is incompatible with the layer: '
                     f"{detail}. Full shape received: {shape}")


class Layer:
    """Base of the layers: name, call records, config.

    Subclasses set:
      _config_keys   the attributes get_config() writes after name, trainable, dtype;
      _built_at_init Keras builds the layer in __init__, so its config has no
                     build_config;
      _merge         the layer is called on a list of tensors;
      _call_kwargs   the kwargs Keras records on a call given none (Dropout's
                     training=False, BatchNormalization's mask=None, ...);
      _ndim          the input ranks Keras accepts, batch included: (min, max);
      _engine_ndim   the one rank leantrain's engine takes, if it takes only one.
    """

    _config_keys = ()
    _built_at_init = False
    _merge = False
    _call_kwargs = {}
    _ndim = (1, None)
    _engine_ndim = None

    def __init__(self, *, activity_regularizer=None, trainable=True, dtype=None, autocast=True,
                 name=None, **kwargs):
        cls = type(self).__name__
        if name is None:
            name = auto_name(cls)
        elif not isinstance(name, str) or "/" in name:
            raise ValueError("Argument `name` must be a string and cannot contain character "
                             f"`/`. Received: name={name!r} (of type {type(name).__name__})")
        self.name = name
        where = f"{cls} '{name}'"
        input_dim = kwargs.pop("input_dim", None)
        input_shape = (input_dim,) if input_dim is not None else kwargs.pop("input_shape", None)
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to {cls}: {kwargs}")
        if input_shape is not None:
            warnings.warn("Do not pass an `input_shape`/`input_dim` argument to a layer. When "
                          "using Sequential models, prefer using an `Input(shape)` object as "
                          "the first layer in the model instead.", stacklevel=3)
        if not isinstance(trainable, bool):
            raise ValueError(f"Expected `trainable` to be a boolean. Received: "
                             f"trainable={trainable!r}")
        if not trainable:
            _unsupported(where, "trainable", trainable,
                         "leantrain trains every layer (no freezing)")
        _check_dtype(where, dtype)
        if activity_regularizer is not None:
            _unsupported(where, "activity_regularizer", activity_regularizer,
                         "leantrain has no activity regularization")
        self.activity_regularizer = None
        self.autocast = autocast
        self._input_shape_arg = tuple(input_shape) if input_shape is not None else None
        self._inbound_nodes = []
        self._build_shapes = None  # the input shape(s) of the first call

    def _set_resolved(self, module, **values):
        """Sets each argument to `module`.get(value) (initializers or regularizers); an
        error names the layer and the argument."""
        for arg, value in values.items():
            try:
                setattr(self, arg, module.get(value))
            except (ValueError, NotImplementedError) as e:
                raise type(e)(f"{self._where}: {arg}={value!r}: {e}") from None

    @property
    def _where(self):
        return f"{type(self).__name__} '{self.name}'"

    @property
    def trainable(self):
        return True

    @trainable.setter
    def trainable(self, value):
        if value is not True:
            _unsupported(self._where, "trainable", value,
                         "leantrain trains every layer (no freezing)")

    @property
    def dtype(self):
        return "float32"

    compute_dtype = variable_dtype = dtype

    @property
    def built(self):
        return self._built_at_init or self._build_shapes is not None

    @property
    def input(self):
        """The input of the layer's first call."""
        return self._first_node().args

    @property
    def output(self):
        """The output of the layer's first call."""
        return self._first_node().output

    def _first_node(self):
        if not self._inbound_nodes:
            raise AttributeError(f"Layer '{self.name}' has never been called and thus has "
                                 "no defined input or output")
        return self._inbound_nodes[0]

    def get_config(self):
        config = {"name": self.name, "trainable": True, "dtype": dtype_policy_config()}
        for key in self._config_keys:
            config[key] = _serialize(getattr(self, key))
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def get_build_config(self):
        """{"input_shape": ...} of the first call for a layer Keras builds when called."""
        if self._built_at_init or self._build_shapes is None:
            return None
        return {"input_shape": self._build_shapes}

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    # -- Checks of an input shape (a list of shapes for a merging layer).

    def _check_input(self, shape):
        if self._merge:
            if not isinstance(shape, (list, tuple)) or not shape or not all(
                    isinstance(s, (list, tuple)) for s in shape):
                raise ValueError(f"A merge layer ('{self.name}') should be called on a list of "
                                 f"inputs. Received: input_shape={shape}")
        else:
            low, high = self._ndim
            if len(shape) < low or (high is not None and len(shape) > high):
                expected = f"ndim={low}" if low == high else f"min_ndim={low}"
                _incompatible(self, f"expected {expected}, found ndim={len(shape)}", shape)
            if self._build_shapes is not None:
                for axis in self._fixed_axes():
                    want = self._build_shapes[axis]
                    if shape[axis] != want:
                        _incompatible(self, f"expected axis {axis} of input shape to have "
                                            f"value {want}, but received input with shape "
                                            f"{shape}", shape)
            if self._engine_ndim is not None and len(shape) != self._engine_ndim:
                layout = {2: " (batch, features); add a Flatten or GlobalAveragePooling2D "
                             "before it", 4: " (batch, height, width, channels)"}
                _unsupported(self._where, "input shape", tuple(shape),
                             f"leantrain's {type(self).__name__} takes {self._engine_ndim}-D "
                             f"inputs{layout.get(self._engine_ndim, '')}")
        self._check_shape(shape)

    def _fixed_axes(self):
        """Axes whose size the first call fixes (the weights' input axes)."""
        return ()

    def _check_shape(self, shape):
        """Per-layer checks of an input shape: Keras' build errors, the engine's limits."""

    # -- Calls.

    def __call__(self, inputs, **kwargs):
        """Records a call on `inputs` (a KerasTensor; a list of them for a merging layer)
        and returns the output KerasTensor.

        `training` (True, False or None) and `mask` (None) may be passed, as Keras takes
        them. The call records the keyword arguments given, in their order, or, when none
        are, the ones Keras fills in (`_call_kwargs`). A recorded `training` does not
        matter once the model runs: fit and predict set it for every layer, as in Keras.
        """
        for key, value in kwargs.items():
            if key not in ("training", "mask"):
                raise TypeError(f"{self._where} got an unexpected keyword argument '{key}'")
            if key == "training" and not (value is None or isinstance(value, bool)):
                raise ValueError(f"{self._where}: training must be True, False or None, got "
                                 f"{value!r}")
            if key == "mask" and value is not None:
                _unsupported(self._where, "mask", value, "leantrain has no masking")
        tensors = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        for t in tensors:
            if not isinstance(t, KerasTensor):
                raise TypeError(
                    f"{self._where} is called on {type(t).__name__}; leantrain layers are "
                    "called on symbolic tensors (keras.Input()) to build a model, whose "
                    "fit/predict then run on arrays")
        if self._merge:
            if not isinstance(inputs, (list, tuple)):
                raise ValueError(f"A merge layer ('{self.name}') should be called on a list "
                                 f"of inputs. Received: inputs={inputs!r}")
            args, shape = list(inputs), [t.shape for t in tensors]
        else:
            if len(tensors) != 1 or isinstance(inputs, (list, tuple)):
                raise ValueError(f"{self._where} takes one input tensor, got {len(tensors)}")
            args, shape = inputs, inputs.shape
        self._check_input(shape)
        output = KerasTensor(self.compute_output_shape(shape))
        if self._build_shapes is None:
            self._build_shapes = shape
        Node(self, args, kwargs or self._call_kwargs, output)
        return output

    def __repr__(self):
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"
