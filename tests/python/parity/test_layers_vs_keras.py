"""Our layers, initializers, regularizers and model configs against real Keras 3.15.1.

Every layer class is built both ways with the same arguments (Keras' defaults and
at least one other set) and must give the same get_config(), the same
compute_output_shape() and, called on keras.Input() inside a one-layer model, the
same json.loads(model.to_json()). Whole models (the keras.io MNIST convnet as a
Sequential, a functional model with skip connections, a shared layer, a
Concatenate, several inputs and outputs) must match Keras' to_json() exactly.
Name counters are restarted on both sides before each test.

Run from the repository's root in the project's venv, with the package installed in it (as
scripts/test does):
  "$(scripts/setup-python)/bin/python" -m pytest -q tests/python/parity
"""

import importlib
import json
import os
import types

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

keras = importlib.import_module("keras")

from leantrain.keras import _graph, initializers, layers, regularizers  # noqa: E402

OURS = types.SimpleNamespace(layers=layers, initializers=initializers,
                             regularizers=regularizers, Input=layers.Input)
REAL = types.SimpleNamespace(layers=keras.layers, initializers=keras.initializers,
                             regularizers=keras.regularizers, Input=keras.Input)

IMAGE = (8, 8, 4)
VECTOR = (16,)


@pytest.fixture(autouse=True)
def fresh_names():
    keras.backend.clear_session()
    _graph.clear_session()


def ordered(value):
    """`value` with every dict as a list of its (key, value) pairs: order-sensitive equality."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, (list, tuple)):
        return type(value)(ordered(v) for v in value)
    return value


def assert_same(ours, expected):
    """Equal values, types (tuple is not list) and key order."""
    assert ours == expected
    assert ordered(ours) == ordered(expected)


def resolve(value, lib):
    """Case arguments may be lambdas of the library, for initializer and regularizer objects."""
    return value(lib) if callable(value) else value


# (class name, input shapes, args, kwargs): Keras' defaults first, then other arguments.
LAYER_CASES = [
    ("Activation", [IMAGE], ("relu",), {}),
    ("Activation", [IMAGE], ("swish",), {"name": "act"}),
    ("Activation", [VECTOR], (None,), {}),
    ("Activation", [VECTOR], ("softmax",), {"dtype": "float32"}),
    ("Add", [IMAGE, IMAGE], (), {}),
    ("Add", [IMAGE, IMAGE, IMAGE], (), {"name": "sum"}),
    ("AveragePooling2D", [IMAGE], (2,), {}),
    ("AveragePooling2D", [IMAGE], ((3, 3),), {"strides": (1, 2), "padding": "same"}),
    ("BatchNormalization", [IMAGE], (), {}),
    ("BatchNormalization", [IMAGE], (), {"axis": 3, "momentum": 0.9, "epsilon": 1e-5,
                                         "gamma_initializer": "ones", "renorm_momentum": 0.5}),
    ("BatchNormalization", [VECTOR], (), {
        "beta_initializer": lambda k: k.initializers.Constant(0.0),
        "moving_variance_initializer": lambda k: k.initializers.Constant(1)}),
    ("Concatenate", [IMAGE, IMAGE], (), {}),
    ("Concatenate", [IMAGE, (8, 8, 2)], (), {"axis": 3}),
    ("Conv2D", [IMAGE], (8, 3), {}),
    ("Conv2D", [IMAGE], (16, (3, 5)), {
        "strides": 2, "padding": "same", "activation": "relu", "use_bias": False,
        "kernel_initializer": "he_normal", "bias_initializer": "ones",
        "kernel_regularizer": lambda k: k.regularizers.L2(1e-4), "groups": 2,
        "data_format": "channels_last"}),
    ("Conv2D", [IMAGE], (4, 3), {
        "dilation_rate": 2, "activation": "sigmoid", "kernel_regularizer": "l2",
        "kernel_initializer": lambda k: k.initializers.GlorotNormal(seed=5),
        "bias_initializer": lambda k: k.initializers.Constant(1.0)}),
    ("Dense", [VECTOR], (10,), {}),
    ("Dense", [VECTOR], (4,), {
        "activation": "softmax", "use_bias": False,
        "kernel_initializer": lambda k: k.initializers.VarianceScaling(
            2.0, "fan_out", "uniform", seed=1),
        "kernel_regularizer": lambda k: k.regularizers.L1L2(l2=0.001)}),
    ("Dense", [VECTOR], (3,), {"activation": "tanh", "kernel_initializer": "lecun_normal",
                               "bias_initializer": "zeros"}),
    ("DepthwiseConv2D", [IMAGE], (3,), {}),
    ("DepthwiseConv2D", [IMAGE], ((3, 3),), {
        "strides": 2, "padding": "same", "depth_multiplier": 2, "activation": "relu6",
        "depthwise_initializer": "lecun_uniform", "depthwise_regularizer": "l2",
        "use_bias": False}),
    ("Dropout", [IMAGE], (0.5,), {}),
    ("Dropout", [IMAGE], (0.2,), {"noise_shape": (None, 1, 1, 1), "seed": 7}),
    ("Flatten", [IMAGE], (), {}),
    ("Flatten", [IMAGE], (), {"data_format": "channels_last"}),
    ("GlobalAveragePooling2D", [IMAGE], (), {}),
    ("GlobalAveragePooling2D", [IMAGE], (), {"keepdims": True}),
    ("GlobalMaxPooling2D", [IMAGE], (), {}),
    ("GlobalMaxPooling2D", [IMAGE], (), {"keepdims": True, "name": "gmp"}),
    ("MaxPooling2D", [IMAGE], (), {}),
    ("MaxPooling2D", [IMAGE], (), {"pool_size": 3, "strides": 2, "padding": "same"}),
    ("Multiply", [IMAGE, IMAGE], (), {}),
    ("Multiply", [IMAGE, (1, 1, 4)], (), {"name": "gate"}),
    ("Normalization", [IMAGE], (), {}),
    ("Normalization", [IMAGE], (), {"axis": 3}),
    ("Normalization", [VECTOR], (), {"axis": [-1]}),
    ("ReLU", [IMAGE], (), {}),
    ("ReLU", [IMAGE], (), {"max_value": 6.0}),
    ("ReLU", [IMAGE], (6,), {"negative_slope": 0, "threshold": 0}),
    ("Rescaling", [IMAGE], (1.0 / 255,), {}),
    ("Rescaling", [IMAGE], (2,), {"offset": -1.0}),
    ("Reshape", [IMAGE], ((16, 16),), {}),
    ("Reshape", [IMAGE], ([4, 8, 8],), {}),
    ("Resizing", [IMAGE], (4, 4), {}),
    ("Resizing", [IMAGE], (12, 10), {"interpolation": "bilinear", "fill_value": 1.0,
                                     "data_format": "channels_last"}),
    ("SeparableConv2D", [IMAGE], (8, 3), {}),
    ("SeparableConv2D", [IMAGE], (6, (3, 3)), {
        "strides": 2, "padding": "same", "depth_multiplier": 2, "activation": "tanh",
        "pointwise_initializer": "glorot_normal", "depthwise_initializer": "he_uniform",
        "pointwise_regularizer": lambda k: k.regularizers.L2(0.01),
        "depthwise_regularizer": lambda k: k.regularizers.L2(0.02), "bias_initializer": "one"}),
    ("Softmax", [IMAGE], (), {}),
    ("Softmax", [VECTOR], (-1,), {"name": "probs"}),
    ("ZeroPadding2D", [IMAGE], (), {}),
    ("ZeroPadding2D", [IMAGE], (2,), {}),
    ("ZeroPadding2D", [IMAGE], ((1, 2),), {}),
    ("ZeroPadding2D", [IMAGE], (((1, 2), (3, 0)),), {"data_format": "channels_last"}),
]


def make_layer(lib, class_name, args, kwargs):
    cls = getattr(lib.layers, class_name)
    return cls(*[resolve(a, lib) for a in args],
               **{k: resolve(v, lib) for k, v in kwargs.items()})


def case_id(case):
    return f"{case[0]}-{case[2]}-{sorted(case[3])}"


def test_cases_cover_every_layer_class():
    names = {case[0] for case in LAYER_CASES}
    expected = {"Activation", "Add", "AveragePooling2D", "BatchNormalization", "Concatenate",
                "Conv2D", "Dense", "DepthwiseConv2D", "Dropout", "Flatten",
                "GlobalAveragePooling2D", "GlobalMaxPooling2D", "MaxPooling2D", "Multiply",
                "Normalization", "ReLU", "Rescaling", "Reshape", "Resizing", "SeparableConv2D",
                "Softmax", "ZeroPadding2D"}
    assert names == expected
    for name in names:
        assert sum(case[0] == name for case in LAYER_CASES) >= 2, name


@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_layer_get_config_matches_keras(case):
    class_name, _, args, kwargs = case
    real = make_layer(REAL, class_name, args, kwargs)
    keras.backend.clear_session()
    ours = make_layer(OURS, class_name, args, kwargs)
    assert ours.name == real.name
    assert_same(ours.get_config(), real.get_config())


@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_layer_output_shape_matches_keras(case):
    class_name, shapes, args, kwargs = case
    real = make_layer(REAL, class_name, args, kwargs)
    ours = make_layer(OURS, class_name, args, kwargs)
    batch_shapes = [(None, *s) for s in shapes]
    arg = batch_shapes if len(shapes) > 1 else batch_shapes[0]
    assert ours.compute_output_shape(arg) == tuple(real.compute_output_shape(arg))


@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_one_layer_model_json_matches_keras(case):
    class_name, shapes, args, kwargs = case

    def build(lib):
        inputs = [lib.Input(s) for s in shapes]
        layer = make_layer(lib, class_name, args, kwargs)
        output = layer(inputs if len(inputs) > 1 else inputs[0])
        return inputs, output

    real_inputs, real_output = build(REAL)
    expected = json.loads(keras.Model(real_inputs, real_output).to_json())
    ours_inputs, ours_output = build(OURS)
    assert ours_output.shape == tuple(real_output.shape)
    assert_same(_graph.functional_config(ours_inputs, ours_output), expected)


@pytest.mark.parametrize("alias,name", [
    ("Convolution2D", "Conv2D"), ("SeparableConvolution2D", "SeparableConv2D"),
    ("MaxPool2D", "MaxPooling2D"), ("AvgPool2D", "AveragePooling2D"),
    ("GlobalAvgPool2D", "GlobalAveragePooling2D"), ("GlobalMaxPool2D", "GlobalMaxPooling2D")])
def test_aliases_are_the_classes_keras_aliases(alias, name):
    assert getattr(keras.layers, alias) is getattr(keras.layers, name)
    assert getattr(layers, alias) is getattr(layers, name)


@pytest.mark.parametrize("kwargs", [
    {"shape": (28, 28, 1)},
    {"shape": (8,), "batch_size": 16, "name": "features"},
    {"batch_shape": (None, 4, 4, 3), "dtype": "float32"},
    {"shape": [5]},
])
def test_input_layer_config_matches_keras(kwargs):
    real = keras.Input(**kwargs)
    ours = layers.Input(**kwargs)
    assert ours.shape == tuple(real.shape)
    assert ours.dtype == real.dtype
    real_layer, ours_layer = real._keras_history[0], ours._keras_history[0]
    assert ours_layer.name == real_layer.name
    assert_same(ours_layer.get_config(), real_layer.get_config())


INITIALIZER_NAMES = ["glorot_uniform", "GlorotUniform", "glorot_normal", "he_uniform",
                     "he_normal", "HeNormal", "lecun_uniform", "lecun_normal", "zeros", "Zeros",
                     "zero", "ones", "one", "Ones", "variance_scaling", "VarianceScaling"]


@pytest.mark.parametrize("name", INITIALIZER_NAMES)
def test_initializer_by_name_matches_keras(name):
    assert_same(initializers.serialize(initializers.get(name)),
                keras.initializers.serialize(keras.initializers.get(name)))


@pytest.mark.parametrize("make", [
    lambda k: k.initializers.Constant(1),
    lambda k: k.initializers.Constant(0.0),
    lambda k: k.initializers.VarianceScaling(2, "fan_out", "normal", seed=3),
    lambda k: k.initializers.VarianceScaling(scale=0.5, mode="fan_avg",
                                             distribution="untruncated_normal"),
    lambda k: k.initializers.HeUniform(seed=11),
    lambda k: k.initializers.he_normal(),
    lambda k: k.initializers.get({"class_name": "HeNormal", "config": {"seed": 1}}),
    lambda k: k.initializers.get(k.initializers.LecunNormal),
])
def test_initializer_object_matches_keras(make):
    ours, real = make(OURS), make(REAL)
    assert_same(ours.get_config(), real.get_config())
    assert_same(initializers.serialize(ours), keras.initializers.serialize(real))
    assert type(ours.clone()).__name__ == type(real.clone()).__name__


@pytest.mark.parametrize("make", [
    lambda k: k.regularizers.get("l2"),
    lambda k: k.regularizers.get("L2"),
    lambda k: k.regularizers.get("l1l2"),
    lambda k: k.regularizers.L2(1),
    lambda k: k.regularizers.L2(None),
    lambda k: k.regularizers.l2(0.003),
    lambda k: k.regularizers.L1L2(l2=0.001),
    lambda k: k.regularizers.l1_l2(l1=0, l2=5e-4),
    lambda k: k.regularizers.get({"class_name": "L2", "config": {"l2": 0.5}}),
])
def test_regularizer_matches_keras(make):
    assert_same(regularizers.serialize(make(OURS)), keras.regularizers.serialize(make(REAL)))


def mnist_convnet(lib):
    """keras.io/examples/vision/mnist_convnet/ as written there."""
    return [
        lib.Input(shape=(28, 28, 1)),
        lib.layers.Conv2D(32, kernel_size=(3, 3), activation="relu"),
        lib.layers.MaxPooling2D(pool_size=(2, 2)),
        lib.layers.Conv2D(64, kernel_size=(3, 3), activation="relu"),
        lib.layers.MaxPooling2D(pool_size=(2, 2)),
        lib.layers.Flatten(),
        lib.layers.Dropout(0.5),
        lib.layers.Dense(10, activation="softmax"),
    ]


def test_mnist_convnet_sequential_matches_keras():
    expected = json.loads(keras.Sequential(mnist_convnet(REAL)).to_json())
    assert_same(_graph.sequential_config(mnist_convnet(OURS)), expected)


def test_sequential_built_from_input_shape_matches_keras():
    real = keras.Sequential(mnist_convnet(REAL)[1:], name="mnist")
    real.build((None, 28, 28, 1))
    expected = json.loads(real.to_json())
    ours = _graph.sequential_config(mnist_convnet(OURS)[1:], name="mnist",
                                    input_shape=(None, 28, 28, 1))
    assert_same(ours, expected)


def test_sequential_of_layers_called_before_keeps_their_first_build_shape():
    def build(lib):
        dense = lib.layers.Dense(4, name="head")
        dense(lib.Input((6,)))  # built on (None, 6), then stacked on the same width
        return [lib.Input((3, 2)), lib.layers.Flatten(), dense, lib.layers.ReLU()]

    expected = json.loads(keras.Sequential(build(REAL)).to_json())
    assert_same(_graph.sequential_config(build(OURS)), expected)


def skip_model(lib):
    """A residual block, a shared 1x1 conv called twice, Concatenate, several outputs."""
    L = lib.layers
    inputs = lib.Input((16, 16, 3))
    x = L.Conv2D(8, 3, padding="same")(inputs)
    x = L.BatchNormalization()(x)
    y = L.ReLU()(x)
    shared = L.Conv2D(8, 1, name="shared")
    a = shared(y)
    b = shared(x)
    s = L.Add()([a, b, y])
    c = L.Concatenate()([s, y])
    c = L.Dropout(0.2)(c)
    g = L.GlobalAveragePooling2D()(c)
    out = L.Dense(4, activation="softmax")(g)
    aux = L.Dense(1, activation="sigmoid", name="aux")(L.Flatten()(b))
    return inputs, out, aux


def test_functional_with_skip_and_shared_layer_matches_keras():
    real_in, real_out, _ = skip_model(REAL)
    expected = json.loads(keras.Model(real_in, real_out).to_json())
    ours_in, ours_out, _ = skip_model(OURS)
    assert_same(_graph.functional_config(ours_in, ours_out), expected)


def test_functional_with_two_outputs_matches_keras():
    real_in, real_out, real_aux = skip_model(REAL)
    expected = json.loads(keras.Model([real_in], [real_out, real_aux], name="two").to_json())
    ours_in, ours_out, ours_aux = skip_model(OURS)
    assert_same(_graph.functional_config([ours_in], [ours_out, ours_aux], name="two"), expected)


def test_shared_layer_used_outside_the_model_is_reindexed_as_keras():
    def build(lib):
        L = lib.layers
        shared = L.Dense(5, name="shared")
        shared(lib.Input((5,), name="elsewhere"))  # node 0, not part of the model
        a, b = lib.Input((5,), name="a"), lib.Input((5,), name="b")
        unused = lib.Input((2,), name="unused")
        out = L.Multiply()([shared(a), shared(shared(b))])
        return (a, b, unused), out

    real_in, real_out = build(REAL)
    expected = json.loads(keras.Model(real_in, real_out).to_json())
    ours_in, ours_out = build(OURS)
    assert_same(_graph.functional_config(ours_in, ours_out), expected)


def test_call_keyword_arguments_are_recorded_as_keras():
    def build(lib):
        L = lib.layers
        x = lib.Input((4, 4, 3))
        v = L.Flatten()(x)
        outs = [L.Conv2D(2, 1)(x, training=True), L.Softmax()(x, training=False),
                L.BatchNormalization()(x, training=False), L.BatchNormalization()(x, mask=None),
                L.BatchNormalization()(x, mask=None, training=True),
                L.Resizing(2, 2)(x, training=False), L.Dropout(0.1)(x, training=None),
                L.Add()([x, x], training=True), L.Dense(3)(v, training=None), L.Softmax()(x)]
        return x, outs

    real_in, real_out = build(REAL)
    expected = json.loads(keras.Model(real_in, real_out).to_json())
    ours_in, ours_out = build(OURS)
    assert_same(_graph.functional_config(ours_in, ours_out), expected)
