"""keras.layers: the Keras 3 layers leantrain's engine has, as model-building objects.

Each class takes Keras 3.15.1's constructor arguments (names, order, defaults),
and `get_config()` returns what Keras' returns for them: keys in Keras' order,
tuples where Keras keeps tuples, the float32 dtype policy, initializers and
regularizers as serialized dicts. Calling a layer on KerasTensors records a call
(keras/_graph.py) and returns a KerasTensor of the shape Keras infers.

Arguments the engine cannot honour (data_format="channels_first", constraints,
activity or bias regularizers, trainable=False, dtypes other than float32, ...)
raise NotImplementedError when the layer is made, naming the argument, its value
and what works; invalid arguments raise ValueError as Keras does. Input shapes
the engine cannot take (Dense on a 4-D tensor, Add of different shapes, ...)
raise NotImplementedError when the layer is called.

The layers hold no weights: the engine makes and trains them from the config.
"""

import math
import numbers
import warnings

import numpy as np

from . import initializers, regularizers
from ._graph import KerasTensor, Node
from ._layer import (Layer, _activation, _check_dtype, _data_format, _no_constraint,
                     _no_regularizer, _padding, _positive_int, _tuple, _unsupported)

__all__ = ["Activation", "Add", "AveragePooling2D", "AvgPool2D", "BatchNormalization",
           "Concatenate", "Conv2D", "Convolution2D", "Dense", "DepthwiseConv2D", "Dropout",
           "Flatten", "GlobalAveragePooling2D", "GlobalAvgPool2D", "GlobalMaxPool2D",
           "GlobalMaxPooling2D", "Input", "InputLayer", "Layer", "MaxPool2D", "MaxPooling2D",
           "Multiply", "Normalization", "ReLU", "Rescaling", "Reshape", "Resizing",
           "SeparableConv2D", "SeparableConvolution2D", "Softmax", "ZeroPadding2D"]


# ---- Input -------------------------------------------------------------------


def _standardize_shape(shape):
    """Keras' standardize_shape: a tuple of None and non-negative ints."""
    if shape is None or not hasattr(shape, "__iter__"):
        raise ValueError(f"Cannot convert '{shape}' to a shape.")
    out = []
    for d in shape:
        if d is not None:
            if isinstance(d, (str, float, bool)) or not isinstance(d, (int, np.integer)):
                raise ValueError(f"Cannot convert '{shape}' to a shape. Found invalid dimension "
                                 f"'{d}' of type '{type(d)}'.")
            if d < 0:
                raise ValueError(f"Cannot convert '{shape}' to a shape. Negative dimensions "
                                 "are not allowed.")
            d = int(d)
        out.append(d)
    return tuple(out)


class InputLayer(Layer):
    """The layer behind keras.Input(): a model input of a fixed shape."""

    _built_at_init = True

    def __init__(self, shape=None, batch_size=None, dtype=None, sparse=None, ragged=None,
                 batch_shape=None, input_tensor=None, optional=False, name=None, **kwargs):
        super().__init__(name=name)
        if "input_shape" in kwargs:
            warnings.warn("Argument `input_shape` is deprecated. Use `shape` instead.",
                          stacklevel=2)
            shape = kwargs.pop("input_shape")
        if "batch_input_shape" in kwargs:
            batch_shape = kwargs.pop("batch_input_shape")
        if kwargs:
            raise ValueError(f"Unrecognized keyword arguments passed to InputLayer: {kwargs}")
        where = self._where
        if input_tensor is not None:
            _unsupported(where, "input_tensor", input_tensor,
                         "pass shape= (or batch_shape=) instead")
        if shape is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `shape` and `batch_shape` at the same time.")
        if batch_size is not None and batch_shape is not None:
            raise ValueError("You cannot pass both `batch_size` and `batch_shape` at the same "
                             "time.")
        if shape is None and batch_shape is None:
            raise ValueError("You must pass a `shape` argument.")
        if shape is not None:
            batch_shape = (batch_size,) + _standardize_shape(shape)
        batch_shape = _standardize_shape(batch_shape)
        if len(batch_shape) < 2:
            _unsupported(where, "shape", batch_shape[1:],
                         "leantrain inputs have at least one dimension besides the batch")
        for d in batch_shape[1:]:
            if d is None or d <= 0:
                _unsupported(where, "shape", batch_shape[1:],
                             "leantrain plans memory for fixed input shapes; give every "
                             "dimension but the batch as a positive integer")
        _check_dtype(where, dtype)
        for arg, value in (("sparse", sparse), ("ragged", ragged)):
            if value:
                _unsupported(where, arg, value, "leantrain inputs are dense")
        if optional:
            _unsupported(where, "optional", optional, "every leantrain input is required")
        self.batch_shape = batch_shape
        self.sparse = False
        self.ragged = False
        self.optional = False
        Node(self, None, {}, KerasTensor(batch_shape, name=name))

    def get_config(self):
        return {"batch_shape": self.batch_shape, "dtype": "float32", "sparse": False,
                "ragged": False, "name": self.name, "optional": False}

    def __call__(self, *args, **kwargs):
        raise TypeError(f"InputLayer '{self.name}' is not called; use its tensor "
                        "(keras.Input() returns it)")


def Input(shape=None, batch_size=None, dtype=None, sparse=None, ragged=None, batch_shape=None,
          name=None, tensor=None, optional=False):
    """A symbolic model input: the KerasTensor of a new InputLayer (keras.Input)."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, sparse=sparse,
                       ragged=ragged, batch_shape=batch_shape, input_tensor=tensor,
                       optional=optional, name=name)
    return layer.output


# ---- Convolutions and Dense --------------------------------------------------


def _conv_output_shape(input_shape, filters, kernel_size, strides, padding, dilation_rate):
    """compute_conv_output_shape for channels_last; None sizes stay None."""
    spatial = []
    for size, k, s, d in zip(input_shape[1:-1], kernel_size, strides, dilation_rate):
        if size is None:
            spatial.append(None)
        elif padding == "valid":
            out = (size - d * (k - 1) - 1) // s + 1
            if out <= 0:
                raise ValueError(
                    "Computed output size would be zero or negative. Received `inputs "
                    f"shape={tuple(input_shape)}`, `kernel_size={kernel_size}`, "
                    f"`dilation_rate={dilation_rate}`, `strides={strides}`, `padding={padding}`.")
            spatial.append(out)
        else:
            spatial.append((size - 1) // s + 1)
    return (input_shape[0], *spatial, filters)


class _Conv(Layer):
    """The arguments Conv2D, DepthwiseConv2D and SeparableConv2D share."""

    _ndim = (4, None)
    _engine_ndim = 4

    def _conv_args(self, kernel_size, strides, padding, data_format, dilation_rate, activation,
                   use_bias, bias_initializer, bias_regularizer, constraints):
        where = self._where
        self.kernel_size = _tuple(kernel_size, 2, "kernel_size")
        self.strides = _tuple(strides, 2, "strides")
        self.dilation_rate = _tuple(dilation_rate, 2, "dilation_rate")
        self.padding = _padding(padding)
        self.data_format = _data_format(where, data_format)
        self.activation = _activation(where, activation)
        self.use_bias = use_bias
        self._set_resolved(initializers, bias_initializer=bias_initializer)
        _no_regularizer(where, "bias_regularizer", bias_regularizer)
        self.bias_regularizer = None
        for name, value in constraints.items():
            _no_constraint(where, name, value)
            setattr(self, name, None)

    def _fixed_axes(self):
        return (-1,)


def _no_lora(where, kwargs):
    lora_rank = kwargs.pop("lora_rank", None)
    kwargs.pop("lora_alpha", None)
    if lora_rank is not None:
        _unsupported(where, "lora_rank", lora_rank, "leantrain has no LoRA; leave it None")


class Conv2D(_Conv):
    _config_keys = ("filters", "kernel_size", "strides", "padding", "data_format",
                    "dilation_rate", "groups", "activation", "use_bias", "kernel_initializer",
                    "bias_initializer", "kernel_regularizer", "bias_regularizer",
                    "activity_regularizer", "kernel_constraint", "bias_constraint")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), groups=1, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, **kwargs):
        _no_lora("Conv2D", kwargs)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.filters = _positive_int(self._where, "filters", filters)
        self.groups = _positive_int(self._where, "groups", groups)
        if self.filters % self.groups:
            raise ValueError("The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={groups}, filters={filters}.")
        self._conv_args(kernel_size, strides, padding, data_format, dilation_rate, activation,
                        use_bias, bias_initializer, bias_regularizer,
                        {"kernel_constraint": kernel_constraint,
                         "bias_constraint": bias_constraint})
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with `dilation_rate > "
                             f"1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self._set_resolved(initializers, kernel_initializer=kernel_initializer)
        self._set_resolved(regularizers, kernel_regularizer=kernel_regularizer)

    def _check_shape(self, shape):
        if shape[-1] is not None and shape[-1] % self.groups:
            raise ValueError("The number of input channels must be evenly divisible by the "
                             f"number of groups. Received groups={self.groups}, but the input "
                             f"has {shape[-1]} channels (full input shape is {shape}).")

    def compute_output_shape(self, input_shape):
        return _conv_output_shape(input_shape, self.filters, self.kernel_size, self.strides,
                                  self.padding, self.dilation_rate)


class DepthwiseConv2D(_Conv):
    _config_keys = ("depth_multiplier", "kernel_size", "strides", "padding", "data_format",
                    "dilation_rate", "activation", "use_bias", "depthwise_initializer",
                    "bias_initializer", "depthwise_regularizer", "bias_regularizer",
                    "activity_regularizer", "depthwise_constraint", "bias_constraint")

    def __init__(self, kernel_size, strides=(1, 1), padding="valid", depth_multiplier=1,
                 data_format=None, dilation_rate=(1, 1), activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", bias_initializer="zeros",
                 depthwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, bias_constraint=None, **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.depth_multiplier = _positive_int(self._where, "depth_multiplier",
                                              depth_multiplier)
        self._conv_args(kernel_size, strides, padding, data_format, dilation_rate, activation,
                        use_bias, bias_initializer, bias_regularizer,
                        {"depthwise_constraint": depthwise_constraint,
                         "bias_constraint": bias_constraint})
        self._set_resolved(initializers, depthwise_initializer=depthwise_initializer)
        self._set_resolved(regularizers, depthwise_regularizer=depthwise_regularizer)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        filters = None if channels is None else channels * self.depth_multiplier
        return _conv_output_shape(input_shape, filters, self.kernel_size, self.strides,
                                  self.padding, self.dilation_rate)


class SeparableConv2D(_Conv):
    _config_keys = ("depth_multiplier", "filters", "kernel_size", "strides", "padding",
                    "data_format", "dilation_rate", "activation", "use_bias",
                    "depthwise_initializer", "pointwise_initializer", "bias_initializer",
                    "depthwise_regularizer", "pointwise_regularizer", "bias_regularizer",
                    "activity_regularizer", "depthwise_constraint", "pointwise_constraint",
                    "bias_constraint")

    def __init__(self, filters, kernel_size, strides=(1, 1), padding="valid", data_format=None,
                 dilation_rate=(1, 1), depth_multiplier=1, activation=None, use_bias=True,
                 depthwise_initializer="glorot_uniform", pointwise_initializer="glorot_uniform",
                 bias_initializer="zeros", depthwise_regularizer=None,
                 pointwise_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 depthwise_constraint=None, pointwise_constraint=None, bias_constraint=None,
                 **kwargs):
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.depth_multiplier = _positive_int(self._where, "depth_multiplier",
                                              depth_multiplier)
        self.filters = _positive_int(self._where, "filters", filters)
        self._conv_args(kernel_size, strides, padding, data_format, dilation_rate, activation,
                        use_bias, bias_initializer, bias_regularizer,
                        {"depthwise_constraint": depthwise_constraint,
                         "pointwise_constraint": pointwise_constraint,
                         "bias_constraint": bias_constraint})
        self._set_resolved(initializers, depthwise_initializer=depthwise_initializer,
                           pointwise_initializer=pointwise_initializer)
        self._set_resolved(regularizers, depthwise_regularizer=depthwise_regularizer,
                           pointwise_regularizer=pointwise_regularizer)

    def compute_output_shape(self, input_shape):
        return _conv_output_shape(input_shape, self.filters, self.kernel_size, self.strides,
                                  self.padding, self.dilation_rate)


class Dense(Layer):
    _config_keys = ("units", "activation", "use_bias", "kernel_initializer",
                    "bias_initializer", "kernel_regularizer", "bias_regularizer",
                    "kernel_constraint", "bias_constraint", "quantization_config")
    _ndim = (2, None)
    _engine_ndim = 2

    def __init__(self, units, activation=None, use_bias=True,
                 kernel_initializer="glorot_uniform", bias_initializer="zeros",
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, lora_rank=None, lora_alpha=None,
                 quantization_config=None, **kwargs):
        if isinstance(units, bool) or not isinstance(units, int) or units <= 0:
            raise ValueError("Received an invalid value for `units`, expected a positive "
                             f"integer. Received: units={units!r}")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        where = self._where
        self.units = units
        self.activation = _activation(where, activation)
        self.use_bias = use_bias
        self._set_resolved(initializers, kernel_initializer=kernel_initializer,
                           bias_initializer=bias_initializer)
        self._set_resolved(regularizers, kernel_regularizer=kernel_regularizer)
        _no_regularizer(where, "bias_regularizer", bias_regularizer)
        _no_constraint(where, "kernel_constraint", kernel_constraint)
        _no_constraint(where, "bias_constraint", bias_constraint)
        if lora_rank is not None:
            _unsupported(where, "lora_rank", lora_rank, "leantrain has no LoRA; leave it None")
        if quantization_config is not None:
            _unsupported(where, "quantization_config", quantization_config,
                         "leantrain trains in float32; leave it None")
        self.bias_regularizer = self.kernel_constraint = self.bias_constraint = None
        self.quantization_config = None

    def _fixed_axes(self):
        return (-1,)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.units)


# ---- Normalization -----------------------------------------------------------


class BatchNormalization(Layer):
    _config_keys = ("axis", "momentum", "epsilon", "center", "scale", "beta_initializer",
                    "gamma_initializer", "moving_mean_initializer",
                    "moving_variance_initializer", "beta_regularizer", "gamma_regularizer",
                    "beta_constraint", "gamma_constraint", "synchronized", "renorm",
                    "renorm_clipping", "renorm_momentum")
    _call_kwargs = {"mask": None}

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer="zeros", gamma_initializer="ones",
                 moving_mean_initializer="zeros", moving_variance_initializer="ones",
                 beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                 gamma_constraint=None, renorm=False, renorm_clipping=None,
                 renorm_momentum=0.99, synchronized=False, **kwargs):
        super().__init__(**kwargs)
        where = self._where
        self.axis = int(axis)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        if not 0.0 <= self.momentum <= 1.0:
            raise ValueError(f"{where}: momentum must be in [0, 1], got {momentum!r}")
        if not self.epsilon > 0.0:
            raise ValueError(f"{where}: epsilon must be > 0, got {epsilon!r}")
        for arg, value in (("center", center), ("scale", scale)):
            if value is not True:
                _unsupported(where, arg, value, "leantrain's BatchNormalization always has "
                             "beta and gamma (center=True, scale=True)")
        self.center = self.scale = True
        fixed = ("leantrain's BatchNormalization starts beta and moving_mean at zeros, gamma "
                 "and moving_variance at ones")
        for arg, value, start in (("beta_initializer", beta_initializer, 0),
                                  ("gamma_initializer", gamma_initializer, 1),
                                  ("moving_mean_initializer", moving_mean_initializer, 0),
                                  ("moving_variance_initializer", moving_variance_initializer,
                                   1)):
            self._set_resolved(initializers, **{arg: value})
            init = getattr(self, arg)
            constant = (initializers.Zeros, initializers.Ones)[start]
            if not isinstance(init, constant) and not (
                    isinstance(init, initializers.Constant) and init.value == start):
                _unsupported(where, arg, value, fixed)
        for arg, value in (("beta_regularizer", beta_regularizer),
                           ("gamma_regularizer", gamma_regularizer)):
            _no_regularizer(where, arg, value)
            setattr(self, arg, None)
        for arg, value in (("beta_constraint", beta_constraint),
                           ("gamma_constraint", gamma_constraint)):
            _no_constraint(where, arg, value)
            setattr(self, arg, None)
        if renorm:
            _unsupported(where, "renorm", renorm, "leantrain has no batch renormalization")
        if synchronized:
            _unsupported(where, "synchronized", synchronized,
                         "leantrain's data-parallel training keeps batch statistics per process")
        self.renorm = renorm
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum
        self.synchronized = synchronized

    def _fixed_axes(self):
        return (self.axis,)

    def _check_shape(self, shape):
        if not -len(shape) <= self.axis < len(shape):
            raise ValueError(f"Axis {self.axis} is out of bounds for input shape {shape}. "
                             f"Received: axis={self.axis}")
        if self.axis % len(shape) != len(shape) - 1:
            _unsupported(self._where, "axis", self.axis,
                         f"leantrain normalizes the channel axis only (-1, or {len(shape) - 1} "
                         f"for this input)")


class Normalization(Layer):
    _config_keys = ("axis", "invert", "mean", "variance")

    def __init__(self, axis=-1, mean=None, variance=None, invert=False, **kwargs):
        super().__init__(**kwargs)
        where = self._where
        axis = () if axis is None else (axis,) if isinstance(axis, int) else tuple(axis)
        if len(axis) != 1:
            _unsupported(where, "axis", axis,
                         "leantrain's Normalization takes the channel axis only (-1)")
        if (mean is not None) != (variance is not None):
            raise ValueError("When setting values directly, both `mean` and `variance` must be "
                             f"set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            _unsupported(where, "mean", mean, "leantrain's Normalization reads mean and "
                         "variance as weights; leave them None and load or set the weights")
        if invert:
            _unsupported(where, "invert", invert, "leantrain's Normalization does not invert")
        self.axis = axis
        self.invert = False
        self.mean = self.variance = None

    def _fixed_axes(self):
        return self.axis

    def _check_shape(self, shape):
        (axis,) = self.axis
        if not -len(shape) <= axis < len(shape):
            raise ValueError(f"All `axis` values must be in the range [-rank(input), rank"
                             f"(input)). Received inputs with ndim={len(shape)}, while axis "
                             f"values are {self.axis}")
        if axis % len(shape) != len(shape) - 1:
            _unsupported(self._where, "axis", self.axis,
                         f"leantrain normalizes the channel axis only (-1, or {len(shape) - 1} "
                         "for this input)")


# ---- Activations -------------------------------------------------------------


class Activation(Layer):
    _config_keys = ("activation",)
    _built_at_init = True

    def __init__(self, activation, **kwargs):
        super().__init__(**kwargs)
        self.activation = _activation(self._where, activation)


class ReLU(Layer):
    _config_keys = ("max_value", "negative_slope", "threshold")
    _built_at_init = True

    def __init__(self, max_value=None, negative_slope=0.0, threshold=0.0, **kwargs):
        super().__init__(**kwargs)
        where = self._where
        if max_value is not None and max_value < 0.0:
            raise ValueError("max_value of a ReLU layer cannot be a negative value. "
                             f"Received: max_value={max_value}")
        for arg, value in (("negative_slope", negative_slope), ("threshold", threshold)):
            if value is None or value < 0.0:
                raise ValueError(f"{arg} of a ReLU layer cannot be None or a negative value. "
                                 f"Received: {arg}={value}")
        if max_value not in (None, 6):
            _unsupported(where, "max_value", max_value, "leantrain's ReLU takes max_value None "
                         "or 6 (ReLU6)")
        for arg, value in (("negative_slope", negative_slope), ("threshold", threshold)):
            if value != 0:
                _unsupported(where, arg, value, f"leantrain's ReLU has {arg} 0")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold


class Softmax(Layer):
    _config_keys = ("axis",)
    _built_at_init = True
    _call_kwargs = {"mask": None}

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if axis != -1:
            _unsupported(self._where, "axis", axis, "leantrain's Softmax takes the last axis "
                         "only (-1)")
        self.axis = axis


# ---- Pooling -----------------------------------------------------------------


class _Pooling2D(Layer):
    _config_keys = ("pool_size", "padding", "strides", "data_format")
    _built_at_init = True
    _ndim = (4, 4)

    def _pool_args(self, pool_size, strides, padding, data_format):
        self.pool_size = _tuple(pool_size, 2, "pool_size")
        self.strides = _tuple(pool_size if strides is None else strides, 2, "strides")
        if not isinstance(padding, str) or padding not in ("valid", "same"):
            raise ValueError("Argument `padding` must be either 'valid' or 'same'. Received: "
                             f"padding={padding!r}")
        self.padding = padding
        self.data_format = _data_format(self._where, data_format)

    def compute_output_shape(self, input_shape):
        spatial = []
        for size, p, s in zip(input_shape[1:-1], self.pool_size, self.strides):
            if size is None:
                spatial.append(None)
            elif self.padding == "valid":
                out = (size - p) // s + 1
                if out <= 0:
                    raise ValueError(
                        "Computed output size would be zero or negative. Received: "
                        f"`inputs.shape={tuple(input_shape)}`, `pool_size={self.pool_size}`, "
                        f"`strides={self.strides}`, `padding={self.padding}`.")
                spatial.append(out)
            else:
                spatial.append((size - 1) // s + 1)
        return (input_shape[0], *spatial, input_shape[-1])


class MaxPooling2D(_Pooling2D):
    def __init__(self, pool_size=(2, 2), strides=None, padding="valid", data_format=None,
                 name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self._pool_args(pool_size, strides, padding, data_format)


class AveragePooling2D(_Pooling2D):
    def __init__(self, pool_size, strides=None, padding="valid", data_format=None, name=None,
                 **kwargs):
        super().__init__(name=name, **kwargs)
        self._pool_args(pool_size, strides, padding, data_format)


class _GlobalPooling2D(Layer):
    _config_keys = ("data_format", "keepdims")
    _built_at_init = True
    _ndim = (4, 4)

    def __init__(self, data_format=None, keepdims=False, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self._where, data_format)
        self.keepdims = keepdims

    def compute_output_shape(self, input_shape):
        if self.keepdims:
            return (input_shape[0], *(1,) * (len(input_shape) - 2), input_shape[-1])
        return (input_shape[0], input_shape[-1])


class GlobalAveragePooling2D(_GlobalPooling2D):
    pass


class GlobalMaxPooling2D(_GlobalPooling2D):
    pass


# ---- Reshaping ---------------------------------------------------------------


class Flatten(Layer):
    _config_keys = ("data_format",)

    def __init__(self, data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self._where, data_format)

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        size = None if None in rest else math.prod(rest)
        return (input_shape[0], size)


class Reshape(Layer):
    _config_keys = ("target_shape",)
    _built_at_init = True

    def __init__(self, target_shape, **kwargs):
        super().__init__(**kwargs)
        target_shape = tuple(target_shape)
        for d in target_shape:
            if isinstance(d, bool) or not isinstance(d, (int, np.integer)) or d < -1:
                raise ValueError("Each dimension in `target_shape` must be a non-negative "
                                 "integer, or `-1` for a single unknown dimension. Received: "
                                 f"target_shape={target_shape}.")
        if target_shape.count(-1) > 1:
            raise ValueError("There must be at most one unknown dimension (-1) in "
                             f"`target_shape`. Received: target_shape={target_shape}.")
        if any(d <= 0 for d in target_shape):
            _unsupported(self._where, "target_shape", target_shape,
                         "write every dimension out as a positive integer (no -1 or 0)")
        self.target_shape = target_shape

    def compute_output_shape(self, input_shape):
        rest = input_shape[1:]
        if None not in rest and math.prod(rest) != math.prod(self.target_shape):
            raise ValueError("The total size of the tensor must be unchanged. Received: "
                             f"input_shape={tuple(rest)}, target_shape={self.target_shape}")
        return (input_shape[0], *self.target_shape)


class ZeroPadding2D(Layer):
    _config_keys = ("padding", "data_format")
    _ndim = (4, 4)

    def __init__(self, padding=(1, 1), data_format=None, **kwargs):
        super().__init__(**kwargs)
        self.data_format = _data_format(self._where, data_format)
        if isinstance(padding, (int, np.integer)) and not isinstance(padding, bool):
            self.padding = ((padding, padding), (padding, padding))
        elif hasattr(padding, "__len__"):
            if len(padding) != 2:
                raise ValueError(f"`padding` should have two elements. Received: "
                                 f"padding={padding}.")
            self.padding = (_tuple(padding[0], 2, "1st entry of padding", allow_zero=True),
                            _tuple(padding[1], 2, "2nd entry of padding", allow_zero=True))
        else:
            raise ValueError("`padding` should be either an int, a tuple of 2 ints "
                             "(symmetric_height_pad, symmetric_width_pad), or a tuple of 2 "
                             "tuples of 2 ints ((top_pad, bottom_pad), (left_pad, right_pad)). "
                             f"Received: padding={padding}.")
        if min(min(self.padding[0]), min(self.padding[1])) < 0:
            raise ValueError(f"{self._where}: padding must be >= 0, got {padding!r}")

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        for i, (before, after) in enumerate(self.padding):
            if out[1 + i] is not None:
                out[1 + i] += before + after
        return tuple(out)


# ---- Regularization ----------------------------------------------------------


class Dropout(Layer):
    _config_keys = ("rate", "seed", "noise_shape")
    _built_at_init = True
    _call_kwargs = {"training": False}

    def __init__(self, rate, noise_shape=None, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate <= 1:
            raise ValueError("Invalid value received for argument `rate`. Expected a float "
                             f"value between 0 and 1. Received: rate={rate}")
        if rate == 1:
            _unsupported(self._where, "rate", rate, "leantrain's Dropout takes a rate in [0, 1)")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)
                                 or seed < 0):
            raise ValueError(f"{self._where}: seed must be None or a non-negative integer, got "
                             f"{seed!r}")
        if noise_shape is not None:
            if isinstance(noise_shape, str):
                raise ValueError("Invalid value received for argument `noise_shape`. Expected "
                                 f"a tuple or list of integers. Received: "
                                 f"noise_shape={noise_shape}")
            noise_shape = tuple(noise_shape)
            for i, d in enumerate(noise_shape):
                if d is not None and (not isinstance(d, int) or d <= 0):
                    raise ValueError("Invalid value received for argument `noise_shape`. "
                                     "Expected all dimensions to be positive integers or None. "
                                     f"Received {d!r} at index {i}")
        self.rate = rate
        self.seed = seed
        self.noise_shape = noise_shape

    def _check_shape(self, shape):
        noise = self.noise_shape
        if noise is None:
            return
        per_example = len(noise) == len(shape) and all(d == 1 for d in noise[1:])
        full = len(noise) == len(shape) and all(d is None or d == s
                                                for d, s in zip(noise, shape))
        if not (per_example or full):
            _unsupported(self._where, "noise_shape", noise,
                         f"leantrain's Dropout takes (None, {', '.join(['1'] * (len(shape) - 1))})"
                         f" (one draw per example) or the input's shape {tuple(shape)}")


# ---- Preprocessing -----------------------------------------------------------


class Rescaling(Layer):
    _config_keys = ("scale", "offset")

    def __init__(self, scale, offset=0.0, **kwargs):
        super().__init__(**kwargs)
        for arg, value in (("scale", scale), ("offset", offset)):
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                _unsupported(self._where, arg, value,
                             "leantrain's Rescaling takes one number (no per-channel arrays)")
            if not math.isfinite(value):
                raise ValueError(f"{self._where}: {arg} must be finite, got {value!r}")
        self.scale = scale
        self.offset = offset


class Resizing(Layer):
    _config_keys = ("data_format", "height", "width", "interpolation", "crop_to_aspect_ratio",
                    "pad_to_aspect_ratio", "fill_mode", "fill_value", "antialias")
    _call_kwargs = {"training": True}
    _ndim = (3, 4)
    _engine_ndim = 4

    def __init__(self, height, width, interpolation="bilinear", crop_to_aspect_ratio=False,
                 pad_to_aspect_ratio=False, fill_mode="constant", fill_value=0.0,
                 antialias=False, data_format=None, **kwargs):
        super().__init__(**kwargs)
        where = self._where
        self.height = _positive_int(where, "height", height)
        self.width = _positive_int(where, "width", width)
        if interpolation != "bilinear":
            _unsupported(where, "interpolation", interpolation,
                         "leantrain's Resizing is bilinear")
        for arg, value in (("crop_to_aspect_ratio", crop_to_aspect_ratio),
                           ("pad_to_aspect_ratio", pad_to_aspect_ratio)):
            if value:
                _unsupported(where, arg, value, "leantrain's Resizing stretches the whole image")
        if antialias:
            _unsupported(where, "antialias", antialias, "leantrain's Resizing does not antialias")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)
        self.data_format = _data_format(where, data_format)

    def compute_output_shape(self, input_shape):
        out = list(input_shape)
        first = 1 if len(out) == 4 else 0
        out[first], out[first + 1] = self.height, self.width
        return tuple(out)


# ---- Merging -----------------------------------------------------------------


class _Merge(Layer):
    _merge = True

    def __init__(self, **kwargs):
        super().__init__(**kwargs)

    def compute_output_shape(self, input_shape):
        # Keras' broadcasting rule over the non-batch dimensions.
        out = tuple(input_shape[0][1:])
        for shape in input_shape[1:]:
            a, b = (out, tuple(shape[1:])) if len(out) >= len(shape) - 1 else (
                tuple(shape[1:]), out)
            merged = list(a[:len(a) - len(b)])
            for i, j in zip(a[len(a) - len(b):], b):
                if i is None or j is None:
                    merged.append(None)
                elif i == 1 or j == 1:
                    merged.append(j if i == 1 else i)
                elif i != j:
                    raise ValueError(f"Inputs have incompatible shapes. Received shapes {a} "
                                     f"and {b}")
                else:
                    merged.append(i)
            out = tuple(merged)
        batches = {s[0] for s in input_shape} - {None}
        return (batches.pop() if len(batches) == 1 else None, *out)


class Add(_Merge):
    def _check_shape(self, shape):
        if any(tuple(s[1:]) != tuple(shape[0][1:]) for s in shape[1:]):
            _unsupported(self._where, "input shapes", [tuple(s) for s in shape],
                         "leantrain's Add takes inputs of one shape")


class Multiply(_Merge):
    def _check_shape(self, shape):
        def gate(g, x):  # (1, 1, C) against (H, W, C), as squeeze-and-excitation
            return len(g) == len(x) == 3 and g[0] == g[1] == 1 and g[2] == x[2]

        out = tuple(shape[0][1:])
        for s in shape[1:]:
            s = tuple(s[1:])
            if s == out or gate(s, out):
                continue
            if gate(out, s):
                out = s
                continue
            _unsupported(self._where, "input shapes", [tuple(s) for s in shape],
                         "leantrain's Multiply takes inputs of one shape, or a (1, 1, C) "
                         "gate with an (H, W, C) tensor")


class Concatenate(_Merge):
    _config_keys = ("axis",)

    def __init__(self, axis=-1, **kwargs):
        super().__init__(**kwargs)
        if axis not in (-1, 3):
            _unsupported(self._where, "axis", axis, "leantrain's Concatenate joins along the "
                         "last axis only (-1)")
        self.axis = axis

    def _check_shape(self, shape):
        rank = len(shape[0])
        if self.axis % rank != rank - 1:
            _unsupported(self._where, "axis", self.axis,
                         f"leantrain's Concatenate joins along the last axis only (-1, or "
                         f"{rank - 1} for these inputs)")
        if any(len(s) != rank or tuple(s[1:-1]) != tuple(shape[0][1:-1]) for s in shape):
            raise ValueError("A `Concatenate` layer requires inputs with matching shapes "
                             f"except for the concatenation axis. Received: input_shape="
                             f"{[tuple(s) for s in shape]}")

    def compute_output_shape(self, input_shape):
        out = list(input_shape[0])
        for shape in input_shape[1:]:
            if out[self.axis] is None or shape[self.axis] is None:
                out[self.axis] = None
                break
            out[self.axis] += shape[self.axis]
        return tuple(out)


# Keras' other names of the same classes.
Convolution2D = Conv2D
SeparableConvolution2D = SeparableConv2D
MaxPool2D = MaxPooling2D
AvgPool2D = AveragePooling2D
GlobalAvgPool2D = GlobalAveragePooling2D
GlobalMaxPool2D = GlobalMaxPooling2D
