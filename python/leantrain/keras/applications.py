"""keras.applications: MobileNet, MobileNetV2 and EfficientNetB0 with Keras Applications'
architectures, layer for layer, built by the engine (weights=None only: the machine cannot
download ImageNet weights)."""

import json

from .. import _core
from .models import model_from_config


def _build(name, input_shape, alpha, depth_multiplier, dropout, include_top, weights,
           input_tensor, pooling, classes, classifier_activation, model_name):
    if weights is not None:
        raise ValueError(f"{name}(weights={weights!r}): leantrain builds the architecture only; "
                         "pass weights=None (pretrained weights cannot be downloaded here: load "
                         "them with model.load_weights or leantrain.from_keras)")
    if input_tensor is not None:
        raise NotImplementedError(f"{name}(input_tensor=...) is not supported by leantrain; "
                                  "pass input_shape")
    shape = list(input_shape) if input_shape is not None else [224, 224, 3]
    engine = _core.application(name, shape, float(alpha), int(depth_multiplier), float(dropout),
                               bool(include_top), pooling or "", int(classes),
                               classifier_activation or "", model_name or "")
    return model_from_config(json.loads(engine.to_json()))


def MobileNet(input_shape=None, alpha=1.0, depth_multiplier=1, dropout=1e-3, include_top=True,
              weights="imagenet", input_tensor=None, pooling=None, classes=1000,
              classifier_activation="softmax", name=None):
    return _build("MobileNet", input_shape, alpha, depth_multiplier, dropout, include_top,
                  weights, input_tensor, pooling, classes, classifier_activation, name)


def MobileNetV2(input_shape=None, alpha=1.0, include_top=True, weights="imagenet",
                input_tensor=None, pooling=None, classes=1000, classifier_activation="softmax",
                name=None):
    return _build("MobileNetV2", input_shape, alpha, 1, 0.0, include_top, weights, input_tensor,
                  pooling, classes, classifier_activation, name)


def EfficientNetB0(include_top=True, weights="imagenet", input_tensor=None, input_shape=None,
                   pooling=None, classes=1000, classifier_activation="softmax", name="efficientnetb0",
                   **kwargs):
    return _build("EfficientNetB0", input_shape, 1.0, 1, 0.0, include_top, weights, input_tensor,
                  pooling, classes, classifier_activation, name)
