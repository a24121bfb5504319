"""leantrain.keras layers, initializers, regularizers and model configs, without Keras.

Shapes are worked out by hand, configs and names are Keras 3.15.1's as it prints
them (tests/python/parity checks the same against real Keras), and every argument
the engine cannot honour must fail when the layer is made, naming the argument.

Run: PYTHONPATH=python python -m pytest -q tests/python/test_layers_config.py
"""

import json
import math

import numpy as np
import pytest

from leantrain.keras import _graph, initializers, regularizers
from leantrain.keras import layers as L

POLICY = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"},
          "registered_name": None}


@pytest.fixture(autouse=True)
def fresh_names():
    _graph.clear_session()


# ---- Names ---------------------------------------------------------------------


def test_auto_names_count_per_class_as_keras():
    made = [L.Conv2D(1, 1), L.Conv2D(1, 1), L.Dense(1), L.ReLU(), L.DepthwiseConv2D(1),
            L.GlobalAveragePooling2D(), L.MaxPool2D(), L.BatchNormalization(),
            L.ZeroPadding2D(), L.Conv2D(1, 1), L.SeparableConvolution2D(1, 1)]
    assert [layer.name for layer in made] == [
        "conv2d", "conv2d_1", "dense", "re_lu", "depthwise_conv2d", "global_average_pooling2d",
        "max_pooling2d", "batch_normalization", "zero_padding2d", "conv2d_2",
        "separable_conv2d"]


def test_explicit_names_do_not_advance_the_counter():
    assert L.Dense(1, name="dense").name == "dense"
    assert L.Dense(1).name == "dense"  # Keras does not look at names given
    assert L.Dense(1).name == "dense_1"


def test_clear_session_restarts_names():
    L.Dense(1)
    L.Input((2,))
    _graph.clear_session()
    assert L.Dense(1).name == "dense"
    assert L.Input((2,))._keras_history.operation.name == "input_layer"
    assert L.Input((2,))._keras_history.operation.name == "input_layer_1"


@pytest.mark.parametrize("class_name,snake", [
    ("Conv2D", "conv2d"), ("ReLU", "re_lu"), ("InputLayer", "input_layer"),
    ("GlobalMaxPooling2D", "global_max_pooling2d"), ("KerasTensor", "keras_tensor"),
    ("SeparableConv2D", "separable_conv2d")])
def test_snake_case_as_keras(class_name, snake):
    assert _graph.to_snake_case(class_name) == snake


# ---- Shapes ----------------------------------------------------------------------


def shape_after(layer, *input_shapes, batch_size=None):
    inputs = [L.Input(s, batch_size=batch_size) for s in input_shapes]
    return layer(inputs if len(inputs) > 1 else inputs[0]).shape


@pytest.mark.parametrize("make,inputs,expected", [
    (lambda: L.Conv2D(8, 3), [(28, 28, 1)], (None, 26, 26, 8)),
    (lambda: L.Conv2D(8, 3, strides=2, padding="same"), [(28, 28, 1)], (None, 14, 14, 8)),
    (lambda: L.Conv2D(4, 3, strides=2), [(7, 7, 3)], (None, 3, 3, 4)),  # (7 - 3) // 2 + 1
    (lambda: L.Conv2D(4, 3, dilation_rate=2), [(10, 10, 3)], (None, 6, 6, 4)),  # 10 - 4
    (lambda: L.Conv2D(4, (1, 5)), [(10, 10, 3)], (None, 10, 6, 4)),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=2), [(9, 9, 4)], (None, 7, 7, 8)),
    (lambda: L.SeparableConv2D(5, 3, padding="same", strides=3), [(10, 10, 4)],
     (None, 4, 4, 5)),
    (lambda: L.MaxPooling2D(), [(7, 7, 3)], (None, 3, 3, 3)),
    (lambda: L.MaxPooling2D(padding="same"), [(7, 7, 3)], (None, 4, 4, 3)),
    (lambda: L.AveragePooling2D(3, strides=1), [(7, 7, 3)], (None, 5, 5, 3)),
    (lambda: L.GlobalAveragePooling2D(), [(7, 7, 3)], (None, 3)),
    (lambda: L.GlobalMaxPooling2D(keepdims=True), [(7, 7, 3)], (None, 1, 1, 3)),
    (lambda: L.Flatten(), [(5, 5, 64)], (None, 1600)),
    (lambda: L.Reshape((16, 16)), [(8, 8, 4)], (None, 16, 16)),
    (lambda: L.ZeroPadding2D(((1, 2), (3, 4))), [(5, 5, 2)], (None, 8, 12, 2)),
    (lambda: L.ZeroPadding2D(), [(5, 5, 2)], (None, 7, 7, 2)),
    (lambda: L.Resizing(4, 6), [(9, 9, 3)], (None, 4, 6, 3)),
    (lambda: L.Concatenate(), [(4, 4, 3), (4, 4, 5)], (None, 4, 4, 8)),
    (lambda: L.Add(), [(4, 4, 3), (4, 4, 3), (4, 4, 3)], (None, 4, 4, 3)),
    (lambda: L.Multiply(), [(4, 4, 3), (1, 1, 3)], (None, 4, 4, 3)),
    (lambda: L.Dense(10), [(1600,)], (None, 10)),
    (lambda: L.BatchNormalization(axis=3), [(4, 4, 3)], (None, 4, 4, 3)),
    (lambda: L.Dropout(0.5, noise_shape=(None, 1, 1, 1)), [(4, 4, 3)], (None, 4, 4, 3)),
    (lambda: L.Activation("relu6"), [(4,)], (None, 4)),
])
def test_output_shapes(make, inputs, expected):
    layer = make()
    assert shape_after(layer, *inputs) == expected
    batch_shapes = [(None, *s) for s in inputs]
    assert layer.compute_output_shape(batch_shapes if len(inputs) > 1 else batch_shapes[0]) \
        == expected


def test_fixed_batch_size_flows_through():
    x = L.Input((4,), batch_size=8)
    assert x.shape == (8, 4)
    assert L.Dense(2)(x).shape == (8, 2)


def test_output_that_would_be_empty_is_refused():
    with pytest.raises(ValueError, match="zero or negative"):
        shape_after(L.Conv2D(1, 5), (3, 3, 1))
    with pytest.raises(ValueError, match="zero or negative"):
        shape_after(L.MaxPooling2D(4), (3, 3, 1))


# ---- Argument errors -----------------------------------------------------------

ARGUMENT_ERRORS = [
    # Arguments the engine cannot honour: NotImplementedError naming argument and remedy.
    (lambda: L.Conv2D(8, 3, data_format="channels_first"), NotImplementedError,
     ["data_format='channels_first'", "channels_last"]),
    (lambda: L.Flatten(data_format="channels_first"), NotImplementedError, ["data_format"]),
    (lambda: L.Conv2D(8, 3, kernel_constraint="max_norm"), NotImplementedError,
     ["kernel_constraint='max_norm'", "constraints"]),
    (lambda: L.Dense(4, bias_regularizer="l2"), NotImplementedError,
     ["bias_regularizer='l2'", "kernel_regularizer"]),
    (lambda: L.Dense(4, activity_regularizer="l2"), NotImplementedError,
     ["activity_regularizer"]),
    (lambda: L.Dense(4, trainable=False), NotImplementedError, ["trainable=False"]),
    (lambda: L.Dense(4, dtype="float16"), NotImplementedError, ["dtype='float16'", "float32"]),
    (lambda: L.Dense(4, dtype="mixed_float16"), NotImplementedError, ["mixed_float16"]),
    (lambda: L.Dense(4, activation="gelu"), NotImplementedError, ["activation='gelu'", "relu"]),
    (lambda: L.Dense(4, lora_rank=2), NotImplementedError, ["lora_rank=2"]),
    (lambda: L.Conv2D(8, 3, lora_rank=2), NotImplementedError, ["lora_rank=2"]),
    (lambda: L.Conv2D(8, 3, kernel_initializer="orthogonal"), NotImplementedError,
     ["'orthogonal'", "he_normal"]),
    (lambda: L.Conv2D(8, 3, kernel_regularizer="l1"), NotImplementedError, ["'l1'", "L2"]),
    (lambda: L.SeparableConv2D(8, 3, pointwise_constraint="non_neg"), NotImplementedError,
     ["pointwise_constraint"]),
    (lambda: L.DepthwiseConv2D(3, bias_regularizer="l2"), NotImplementedError,
     ["bias_regularizer"]),
    (lambda: L.BatchNormalization(center=False), NotImplementedError, ["center=False"]),
    (lambda: L.BatchNormalization(gamma_initializer="zeros"), NotImplementedError,
     ["gamma_initializer='zeros'", "ones"]),
    (lambda: L.BatchNormalization(beta_regularizer="l2"), NotImplementedError,
     ["beta_regularizer"]),
    (lambda: L.BatchNormalization(renorm=True), NotImplementedError, ["renorm=True"]),
    (lambda: L.BatchNormalization(synchronized=True), NotImplementedError, ["synchronized"]),
    (lambda: L.ReLU(max_value=3.0), NotImplementedError, ["max_value=3.0", "6"]),
    (lambda: L.ReLU(negative_slope=0.1), NotImplementedError, ["negative_slope=0.1"]),
    (lambda: L.Softmax(axis=1), NotImplementedError, ["axis=1", "-1"]),
    (lambda: L.Concatenate(axis=1), NotImplementedError, ["axis=1", "last axis"]),
    (lambda: L.Reshape((-1, 4)), NotImplementedError, ["target_shape=(-1, 4)", "no -1"]),
    (lambda: L.Resizing(4, 4, interpolation="nearest"), NotImplementedError,
     ["interpolation='nearest'", "bilinear"]),
    (lambda: L.Resizing(4, 4, crop_to_aspect_ratio=True), NotImplementedError,
     ["crop_to_aspect_ratio"]),
    (lambda: L.Resizing(4, 4, antialias=True), NotImplementedError, ["antialias"]),
    (lambda: L.Rescaling([1.0, 2.0]), NotImplementedError, ["scale=[1.0, 2.0]", "one number"]),
    (lambda: L.Dropout(1.0), NotImplementedError, ["rate=1.0", "[0, 1)"]),
    (lambda: L.Normalization(mean=0.0, variance=1.0), NotImplementedError, ["mean=0.0"]),
    (lambda: L.Normalization(axis=(1, 2)), NotImplementedError, ["axis=(1, 2)"]),
    (lambda: L.Normalization(invert=True), NotImplementedError, ["invert=True"]),
    (lambda: L.Input((None, None, 3)), NotImplementedError, ["shape=(None, None, 3)", "fixed"]),
    (lambda: L.Input((28, 28, 1), dtype="uint8"), NotImplementedError, ["dtype='uint8'"]),
    (lambda: L.Input((4,), sparse=True), NotImplementedError, ["sparse=True"]),
    (lambda: L.Input((4,), optional=True), NotImplementedError, ["optional=True"]),
    (lambda: initializers.Constant(0.5), NotImplementedError, ["value=0.5", "Ones"]),
    (lambda: initializers.GlorotUniform(input_axes=[0]), NotImplementedError,
     ["input_axes=[0]"]),
    (lambda: initializers.get("uniform"), NotImplementedError, ["'uniform'"]),
    (lambda: regularizers.L1L2(l1=0.01), NotImplementedError, ["l1=0.01", "L2"]),
    (lambda: regularizers.get("L1"), NotImplementedError, ["'L1'", "L2"]),
    # Arguments Keras itself refuses: ValueError.
    (lambda: L.Dense(4, activation="nope"), ValueError, ["'nope'"]),
    (lambda: L.Dense(0), ValueError, ["units=0"]),
    (lambda: L.Dense(4, foo=1), ValueError, ["Unrecognized keyword arguments", "foo"]),
    (lambda: L.Conv2D(8, 0), ValueError, ["kernel_size"]),
    (lambda: L.Conv2D(8, (3, 3, 3)), ValueError, ["kernel_size"]),
    (lambda: L.Conv2D(8, 3, padding="causal"), ValueError, ["padding"]),
    (lambda: L.Conv2D(6, 3, groups=4), ValueError, ["groups=4", "filters=6"]),
    (lambda: L.Conv2D(8, 3, strides=2, dilation_rate=2), ValueError, ["dilation_rate"]),
    (lambda: L.Conv2D(8, 3, name="a/b"), ValueError, ["name"]),
    (lambda: L.Conv2D(8, 3, data_format="nhwc"), ValueError, ["data_format"]),
    (lambda: L.DepthwiseConv2D(3, depth_multiplier=0), ValueError, ["depth_multiplier"]),
    (lambda: L.Dense(4, trainable="yes"), ValueError, ["trainable"]),
    (lambda: L.ReLU(max_value=-1), ValueError, ["max_value"]),
    (lambda: L.BatchNormalization(epsilon=0), ValueError, ["epsilon"]),
    (lambda: L.Reshape((-1, -1)), ValueError, ["at most one"]),
    (lambda: L.Dropout(1.5), ValueError, ["rate=1.5"]),
    (lambda: L.Dropout(0.5, noise_shape=(None, 0)), ValueError, ["noise_shape"]),
    (lambda: L.MaxPooling2D(padding="SAME"), ValueError, ["padding"]),
    (lambda: L.MaxPooling2D(strides=0), ValueError, ["strides"]),
    (lambda: L.ZeroPadding2D((1, 2, 3)), ValueError, ["two elements"]),
    (lambda: L.Input(), ValueError, ["shape"]),
    (lambda: L.Input(5), ValueError, ["Cannot convert '5' to a shape"]),
    (lambda: L.Input((4,), batch_shape=(None, 4)), ValueError, ["both"]),
    (lambda: initializers.VarianceScaling(mode="fan_x"), ValueError, ["fan_x"]),
    (lambda: initializers.VarianceScaling(scale=0), ValueError, ["scale"]),
    (lambda: initializers.get("foo"), ValueError, ["'foo'"]),
    (lambda: regularizers.L2(-1), ValueError, ["l2=-1"]),
    (lambda: regularizers.get("l1_l2"), ValueError, ["'l1_l2'"]),  # Keras knows only "l1l2"
]


@pytest.mark.parametrize("make,error,parts", ARGUMENT_ERRORS,
                         ids=[str(i) for i in range(len(ARGUMENT_ERRORS))])
def test_argument_errors_name_the_argument(make, error, parts):
    with pytest.raises(error) as info:
        make()
    for part in parts:
        assert part in str(info.value)


def test_freezing_after_construction_is_refused():
    layer = L.Dense(3)
    layer.trainable = True
    with pytest.raises(NotImplementedError, match="trainable=False"):
        layer.trainable = False


CALL_ERRORS = [
    (lambda: L.Dense(4)(L.Input((4, 4, 3))), NotImplementedError,
     ["input shape=(None, 4, 4, 3)", "2-D", "Flatten"]),
    (lambda: L.Conv2D(4, 3)(L.Input((8,))), ValueError, ["min_ndim=4", "ndim=2"]),
    (lambda: L.Conv2D(4, 3)(L.Input((2, 8, 8, 3))), NotImplementedError, ["4-D"]),
    (lambda: L.Add()([L.Input((4, 4, 3)), L.Input((4, 4, 1))]), NotImplementedError,
     ["one shape"]),
    (lambda: L.Multiply()([L.Input((4, 4, 3)), L.Input((4, 1, 3))]), NotImplementedError,
     ["gate"]),
    (lambda: L.Concatenate()([L.Input((4, 4, 3)), L.Input((5, 4, 3))]), ValueError,
     ["matching shapes"]),
    (lambda: L.Concatenate(axis=3)([L.Input((4, 4, 3, 1)), L.Input((4, 4, 3, 1))]),
     NotImplementedError, ["last axis"]),
    (lambda: L.BatchNormalization(axis=1)(L.Input((4, 4, 3))), NotImplementedError,
     ["axis=1", "channel axis"]),
    (lambda: L.Dropout(0.5, noise_shape=(None, 4, 1, 1))(L.Input((4, 4, 3))),
     NotImplementedError, ["noise_shape=(None, 4, 1, 1)"]),
    (lambda: L.Reshape((5, 5))(L.Input((8,))), ValueError, ["total size"]),
    (lambda: L.Dense(4)(L.Input((4,)), mask=np.ones(4)), NotImplementedError, ["mask="]),
    (lambda: L.Dense(4)(L.Input((4,)), training=1), ValueError, ["training"]),
    (lambda: L.Dense(4)(L.Input((4,)), foo=True), TypeError, ["'foo'"]),
    (lambda: L.Dense(4)(np.zeros((2, 4))), TypeError, ["ndarray", "keras.Input"]),
    (lambda: L.Add()(L.Input((4,))), ValueError, ["list of inputs"]),
    (lambda: L.Dense(4)([L.Input((4,)), L.Input((4,))]), ValueError, ["one input"]),
]


@pytest.mark.parametrize("call,error,parts", CALL_ERRORS,
                         ids=[str(i) for i in range(len(CALL_ERRORS))])
def test_call_errors_name_the_problem(call, error, parts):
    with pytest.raises(error) as info:
        call()
    for part in parts:
        assert part in str(info.value)


def test_shared_layer_must_see_the_channels_it_was_built_for():
    conv = L.Conv2D(4, 1)
    conv(L.Input((8, 8, 3)))
    assert conv(L.Input((5, 5, 3))).shape == (None, 5, 5, 4)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 3"):
        conv(L.Input((8, 8, 2)))


# ---- Configs --------------------------------------------------------------------


def test_conv2d_config_is_keras():
    """Keras 3.15.1's Conv2D(8, 3).get_config(), as it prints it."""
    glorot = {"module": "keras.initializers", "class_name": "GlorotUniform",
              "config": {"seed": None, "input_axes": None, "output_axes": None},
              "registered_name": None}
    zeros = {"module": "keras.initializers", "class_name": "Zeros", "config": {},
             "registered_name": None}
    config = L.Conv2D(8, 3).get_config()
    assert config == {
        "name": "conv2d", "trainable": True, "dtype": POLICY, "filters": 8,
        "kernel_size": (3, 3), "strides": (1, 1), "padding": "valid",
        "data_format": "channels_last", "dilation_rate": (1, 1), "groups": 1,
        "activation": "linear", "use_bias": True, "kernel_initializer": glorot,
        "bias_initializer": zeros, "kernel_regularizer": None, "bias_regularizer": None,
        "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    assert list(config) == ["name", "trainable", "dtype", "filters", "kernel_size", "strides",
                            "padding", "data_format", "dilation_rate", "groups", "activation",
                            "use_bias", "kernel_initializer", "bias_initializer",
                            "kernel_regularizer", "bias_regularizer", "activity_regularizer",
                            "kernel_constraint", "bias_constraint"]


def test_arguments_are_serialized_as_keras():
    config = L.Dense(4, activation="swish", kernel_initializer="he_normal",
                     kernel_regularizer="l2").get_config()
    assert config["activation"] == "silu"
    assert config["kernel_initializer"]["class_name"] == "HeNormal"
    assert config["kernel_regularizer"] == {"module": "keras.regularizers", "class_name": "L2",
                                            "config": {"l2": 0.01}, "registered_name": None}
    assert list(config)[-1] == "quantization_config"
    assert "activity_regularizer" not in config  # Dense writes it only when set
    resizing = list(L.Resizing(4, 4).get_config())
    assert resizing[:5] == ["name", "trainable", "dtype", "data_format", "height"]
    assert L.ZeroPadding2D((1, 2)).get_config()["padding"] == ((1, 1), (2, 2))
    assert L.Normalization().get_config()["axis"] == (-1,)
    assert L.MaxPooling2D(3).get_config()["strides"] == (3, 3)


ROUND_TRIPS = [
    lambda: L.Activation("tanh", name="a"),
    lambda: L.Add(name="a"),
    lambda: L.AveragePooling2D(3, strides=2, padding="same", name="a"),
    lambda: L.BatchNormalization(momentum=0.9, epsilon=1e-5, name="a"),
    lambda: L.Concatenate(name="a"),
    lambda: L.Conv2D(8, 3, strides=2, kernel_initializer=initializers.HeNormal(seed=2),
                     kernel_regularizer=regularizers.L2(1e-4), name="a"),
    lambda: L.Dense(4, activation="softmax", kernel_regularizer=regularizers.L1L2(l2=0.1),
                    name="a"),
    lambda: L.DepthwiseConv2D(3, depth_multiplier=2, name="a"),
    lambda: L.Dropout(0.3, noise_shape=(None, 1, 1, 1), seed=4, name="a"),
    lambda: L.Flatten(name="a"),
    lambda: L.GlobalAveragePooling2D(keepdims=True, name="a"),
    lambda: L.GlobalMaxPooling2D(name="a"),
    lambda: L.MaxPooling2D(name="a"),
    lambda: L.Multiply(name="a"),
    lambda: L.Normalization(name="a"),
    lambda: L.ReLU(6.0, name="a"),
    lambda: L.Rescaling(1 / 127.5, offset=-1, name="a"),
    lambda: L.Reshape((4, 4), name="a"),
    lambda: L.Resizing(8, 8, name="a"),
    lambda: L.SeparableConv2D(4, 3, depthwise_initializer="variance_scaling", name="a"),
    lambda: L.Softmax(name="a"),
    lambda: L.ZeroPadding2D(((0, 1), (2, 3)), name="a"),
    lambda: L.InputLayer(shape=(4, 4, 3), name="a"),
]


@pytest.mark.parametrize("make", ROUND_TRIPS, ids=[str(i) for i in range(len(ROUND_TRIPS))])
def test_from_config_gives_the_same_config(make):
    layer = make()
    config = layer.get_config()
    again = type(layer).from_config(json.loads(json.dumps(config)))  # as read from JSON
    assert json.dumps(again.get_config()) == json.dumps(config)


def test_input_layer_config():
    x = L.Input((28, 28, 1), name="image")
    assert x.name == "image"
    assert x._keras_history.operation.get_config() == {
        "batch_shape": (None, 28, 28, 1), "dtype": "float32", "sparse": False,
        "ragged": False, "name": "image", "optional": False}


# ---- Model configs ----------------------------------------------------------------


def mnist_layers():
    return [L.Input((28, 28, 1)), L.Conv2D(32, (3, 3), activation="relu"),
            L.MaxPooling2D((2, 2)), L.Conv2D(64, (3, 3), activation="relu"),
            L.MaxPooling2D((2, 2)), L.Flatten(), L.Dropout(0.5),
            L.Dense(10, activation="softmax")]


def has_tuple(value):
    if isinstance(value, tuple):
        return True
    if isinstance(value, dict):
        return any(has_tuple(v) for v in value.values())
    return isinstance(value, list) and any(has_tuple(v) for v in value)


def test_sequential_config_walks_the_shapes():
    stack = mnist_layers()
    config = _graph.sequential_config(stack)
    assert not has_tuple(config)
    assert [config[k] for k in ("module", "class_name", "registered_name")] == [
        "keras", "Sequential", None]
    assert config["build_config"] == {"input_shape": [None, 28, 28, 1]}
    assert config["compile_config"] == {}
    entries = config["config"]["layers"]
    assert [e["config"]["name"] for e in entries] == [
        "input_layer", "conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1", "flatten",
        "dropout", "dense"]
    # 28 -> conv 26 -> pool 13 -> conv 11 -> pool 5; 5 * 5 * 64 = 1600. Layers Keras builds
    # when made (pooling, Dropout) have no build_config.
    assert [e.get("build_config") for e in entries] == [
        None, {"input_shape": [None, 28, 28, 1]}, None, {"input_shape": [None, 13, 13, 32]},
        None, {"input_shape": [None, 5, 5, 64]}, None, {"input_shape": [None, 1600]}]
    assert all(layer._inbound_nodes == [] for layer in stack[1:])  # nothing recorded


def test_sequential_from_input_shape_or_first_layer_argument():
    config = _graph.sequential_config([L.Dense(3)], input_shape=(None, 5))
    assert config["config"]["layers"][0]["config"]["batch_shape"] == [None, 5]
    with pytest.warns(UserWarning, match="input_shape"):
        first = L.Dense(3, input_shape=(7,))
    config = _graph.sequential_config([first])
    assert config["config"]["build_input_shape"] == [None, 7]


@pytest.mark.parametrize("make,message", [
    (lambda: [L.Dense(3)], "no input shape"),
    (lambda: [L.Input((4,)), L.Dense(3, name="d"), L.Dense(3, name="d")], "unique names"),
    (lambda: [L.Input((4,)), L.Add()], "merges several tensors"),
    (lambda: [L.Input((4,)), L.Dense(2), L.Input((2,))], "not the first layer"),
    (lambda: [L.Input((4,))], "no layers"),
    (lambda: [L.Input((4,)), "dense"], "Only instances of `keras.Layer`"),
])
def test_sequential_errors(make, message):
    with pytest.raises(ValueError, match=message):
        _graph.sequential_config(make())


def test_sequential_input_shape_must_agree_with_its_input():
    with pytest.raises(ValueError, match=r"\(None, 4\)"):
        _graph.sequential_config([L.Input((4,)), L.Dense(2)], input_shape=(None, 5))


def test_functional_layers_in_keras_order():
    """Deepest first, ties in the order a depth-first walk from the output first meets them."""
    a = L.Input((4,))
    first, second = L.Dense(4), L.Dense(4)  # "dense", "dense_1"
    out = L.Add()([second(a), first(a)])
    config = _graph.functional_config(a, out)["config"]
    # The walk from add meets dense_1 (its first input) before dense: both at depth 1.
    assert [e["name"] for e in config["layers"]] == ["input_layer", "dense_1", "dense", "add"]
    assert config["input_layers"] == ["input_layer", 0, 0]
    assert config["output_layers"] == ["add", 0, 0]


def test_model_helpers():
    a = L.Input((4,))
    first, second = L.Dense(4), L.Dense(4)
    out = L.Add()([second(a), first(a)])
    assert [layer.name for layer in _graph.functional_layers([a], out)] == [
        "input_layer", "dense_1", "dense", "add"]
    assert _graph.input_layer_of(a) is a._keras_history.operation
    assert _graph.is_input_layer(_graph.input_layer_of(a)) and not _graph.is_input_layer(first)
    with pytest.raises(ValueError, match="keras.Input"):
        _graph.input_layer_of(out)
    stack = _graph.sequential_layers([L.Dense(2)], input_shape=(None, 4))
    assert _graph.sequential_input(stack).shape == (None, 4)
    with pytest.raises(ValueError, match="no input"):
        _graph.sequential_input([L.Dense(2)])
    frozen = _graph.functional_config(a, out, name="m", trainable=False)
    assert frozen["config"]["name"] == "m" and frozen["config"]["trainable"] is False


def test_functional_shared_layer_node_indices():
    x = L.Input((3,))
    shared = L.Dense(3, name="shared")
    y = shared(shared(x))
    outside = L.Input((3,), name="outside")
    shared(outside)  # node 2: not part of the model below
    model = _graph.functional_config(x, y)
    assert not has_tuple(model)
    entry = model["config"]["layers"][1]
    assert entry["name"] == "shared"
    assert entry["build_config"] == {"input_shape": [None, 3]}
    histories = [n["args"][0]["config"]["keras_history"] for n in entry["inbound_nodes"]]
    assert histories == [["input_layer", 0, 0], ["shared", 0, 0]]
    assert model["config"]["output_layers"] == ["shared", 1, 0]

    # A model of the third call counts it as the layer's node 0.
    model = _graph.functional_config(outside, shared._inbound_nodes[2].output)
    entry = model["config"]["layers"][1]
    assert [n["args"][0]["config"]["keras_history"] for n in entry["inbound_nodes"]] == [
        ["outside", 0, 0]]
    assert model["config"]["output_layers"] == ["shared", 0, 0]


def test_functional_node_kwargs_and_unused_inputs():
    a, unused = L.Input((4, 4, 2)), L.Input((3,))
    y = L.Dropout(0.1)(L.BatchNormalization()(a))
    config = _graph.functional_config([a, unused], y)["config"]
    # An input no output reads comes at depth 0, before the output layer (its number is -1).
    assert [e["name"] for e in config["layers"]] == [
        "input_layer", "batch_normalization", "input_layer_1", "dropout"]
    assert [e["inbound_nodes"][0]["kwargs"] for e in config["layers"][1::2]] == [
        {"mask": None}, {"training": False}]
    assert config["input_layers"] == [["input_layer", 0, 0], ["input_layer_1", 0, 0]]


def test_call_records_the_keyword_arguments_given_else_keras_defaults():
    x = L.Input((4, 4, 3))
    calls = [(L.BatchNormalization(), {}, {"mask": None}),
             (L.BatchNormalization(), {"training": True}, {"training": True}),
             (L.BatchNormalization(), {"mask": None, "training": False},
              {"mask": None, "training": False}),
             (L.Dropout(0.5), {}, {"training": False}),
             (L.Dropout(0.5), {"training": None}, {"training": None}),
             (L.Conv2D(2, 1), {}, {}),
             (L.Conv2D(2, 1), {"training": True}, {"training": True})]
    for layer, kwargs, recorded in calls:
        layer(x, **kwargs)
        assert list(layer._inbound_nodes[-1].kwargs.items()) == list(recorded.items())


@pytest.mark.parametrize("make,error,message", [
    (lambda: (L.Input((2,), name="x"), L.Add()([L.Input((2,), name="y"), L.Input((2,))])),
     ValueError, "Graph disconnected"),
    (lambda: ({"x": L.Input((2,))}, L.Input((2,))), NotImplementedError, "dict"),
    (lambda: ([], L.Input((2,))), ValueError, "cannot be empty"),
    (lambda: (L.Input((2,)), np.zeros(2)), ValueError, "KerasTensors"),
])
def test_functional_errors(make, error, message):
    inputs, outputs = make()
    with pytest.raises(error, match=message):
        _graph.functional_config(inputs, outputs)


def test_functional_refuses_duplicate_names_and_non_input_inputs():
    x = L.Input((2,))
    y = L.Dense(2, name="d")(L.Dense(2, name="d")(x))
    with pytest.raises(ValueError, match='"d" is used 2 times'):
        _graph.functional_config(x, y)
    h = L.Dense(2)(x)
    with pytest.raises(NotImplementedError, match="keras.Input"):
        _graph.functional_config(h, L.Dense(2)(h))


# ---- Initializers and regularizers ------------------------------------------------


def test_initializers_draw_within_their_bounds():
    fan_in, fan_out = initializers.compute_fans((3, 3, 4, 8))
    assert (fan_in, fan_out) == (36, 72)
    w = initializers.GlorotUniform(seed=1)((30, 20))
    assert w.dtype == np.float32 and w.shape == (30, 20)
    assert np.abs(w).max() <= math.sqrt(6 / 50)
    assert np.array_equal(w, initializers.get({"class_name": "GlorotUniform",
                                               "config": {"seed": 1}})((30, 20)))
    h = initializers.he_normal(seed=3)((3, 3, 16, 8))
    stddev = math.sqrt(2 / 144) / 0.87962566103423978
    assert np.abs(h).max() <= 2 * stddev
    assert abs(float(h.std()) - math.sqrt(2 / 144)) < 0.15 * math.sqrt(2 / 144)
    assert not np.array_equal(initializers.HeUniform(seed=1)((8, 8)),
                              initializers.HeUniform(seed=2)((8, 8)))
    assert np.array_equal(initializers.get("ones")((2,)), np.ones(2, np.float32))
    assert np.array_equal(initializers.Constant(0)((2, 2)), np.zeros((2, 2), np.float32))


def test_initializer_names_resolve_as_keras():
    for name, class_name in [("he_normal", "HeNormal"), ("GlorotUniform", "GlorotUniform"),
                             ("zero", "Zeros"), ("one", "Ones"),
                             ("variance_scaling", "VarianceScaling")]:
        assert type(initializers.get(name)).__name__ == class_name
    v = initializers.VarianceScaling(2, "fan_out", "normal", seed=3)
    assert initializers.serialize(v) == {
        "module": "keras.initializers", "class_name": "VarianceScaling",
        "config": {"seed": 3, "scale": 2, "mode": "fan_out", "distribution": "truncated_normal",
                   "input_axes": None, "output_axes": None},
        "registered_name": None}


def test_regularizers():
    assert regularizers.L2(0.5)(np.array([1.0, 2.0])) == 2.5
    assert regularizers.get("l2").get_config() == {"l2": 0.01}
    assert regularizers.get("l1l2").get_config() == {"l1": 0.0, "l2": 0.0}
    assert regularizers.serialize(None) is None
    assert regularizers.l1_l2(l2=3).get_config() == {"l1": 0.0, "l2": 3.0}
