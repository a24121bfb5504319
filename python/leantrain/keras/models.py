"""keras.models: load_model, model_from_json, and the Python model a Keras config describes."""

import json
import os

from .. import _core
from . import layers as layers_module
from ._model import Model, Sequential


def _layer_from_entry(entry):
    cls = getattr(layers_module, entry["class_name"], None)
    if cls is None:
        raise NotImplementedError(f"layer class {entry['class_name']} is not in leantrain")
    return cls.from_config(entry["config"])


def _resolve(value, tensors):
    """An inbound node's argument with its __keras_tensor__ entries replaced by the tensors."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        layer, node, index = value["config"]["keras_history"]
        return tensors[(layer, node)][index]
    if isinstance(value, list):
        return [_resolve(v, tensors) for v in value]
    return value


def model_from_config(serialized):
    """The Python model of Keras 3's serialized model dict (json.loads(model.to_json())). Any
    form the engine reads (Keras 2 included) is first written back by it in Keras 3's form."""
    engine = _core.Model.from_json(json.dumps(serialized))
    serialized = json.loads(engine.to_json())
    config = serialized["config"]
    if serialized["class_name"] == "Sequential":
        layers = [_layer_from_entry(entry) for entry in config["layers"]]
        model = Sequential(layers, trainable=config.get("trainable", True), name=config["name"])
    else:
        tensors = {}
        for entry in config["layers"]:
            if entry["class_name"] == "InputLayer":
                c = entry["config"]
                tensors[(c["name"], 0)] = [layers_module.Input(batch_shape=tuple(c["batch_shape"]),
                                                        name=c["name"])]
                continue
            layer = _layer_from_entry(entry)
            for index, node in enumerate(entry.get("inbound_nodes", [])):
                args = _resolve(node["args"], tensors)
                out = layer(*args, **_resolve(node.get("kwargs", {}), tensors))
                tensors[(layer.name, index)] = out if isinstance(out, list) else [out]

        def ends(spec):
            if spec and isinstance(spec[0], str):
                return tensors[(spec[0], spec[1])][spec[2]]
            return [ends(s) for s in spec]

        model = Model(ends(config["input_layers"]), ends(config["output_layers"]),
                      name=config["name"])
    model._engine = engine
    return model


def model_from_json(json_string, custom_objects=None):
    if custom_objects:
        raise NotImplementedError("custom_objects are not supported by leantrain")
    return model_from_config(json.loads(json_string))


def load_model(filepath, custom_objects=None, compile=True, safe_mode=True):
    """A `.keras` file (Keras 3's, from real Keras or leantrain), or leantrain's
    `.safetensors` (architecture in its metadata). With compile=True a compile_config in the
    file is applied, as Keras does."""
    from . import _saving
    filepath = os.fspath(filepath)
    if custom_objects:
        raise NotImplementedError("custom_objects are not supported by leantrain")
    if filepath.endswith(".keras"):
        config, by_layer, compile_config = _saving.read_keras_archive(filepath)
        model = model_from_config(config)
        model._set_weights_by_layer(by_layer, filepath)
        if compile and compile_config:
            _compile_from_config(model, compile_config)
        return model
    if filepath.endswith(".safetensors"):
        raise NotImplementedError("load_model: .safetensors holds weights; build the model and "
                                  "call model.load_weights(path)")
    raise ValueError(f"File format not supported: filepath={filepath}. leantrain reads the "
                     "native Keras format (.keras)")


def _compile_from_config(model, compile_config):
    from . import losses, optimizers
    optimizer = compile_config.get("optimizer")
    if isinstance(optimizer, dict):
        cls = getattr(optimizers, optimizer.get("class_name", ""), None)
        config = dict(optimizer.get("config", {}))
        if cls is None:
            raise NotImplementedError(f"optimizer {optimizer.get('class_name')} is not in leantrain")
        known = cls.__init__.__code__.co_varnames
        optimizer = cls(**{k: v for k, v in config.items()
                           if k in known and k != "self" and not isinstance(v, dict)})
    loss = compile_config.get("loss")
    if isinstance(loss, dict):
        cls = getattr(losses, loss.get("class_name", ""), None)
        known = cls.__init__.__code__.co_varnames if cls else ()
        loss = cls(**{k: v for k, v in loss.get("config", {}).items() if k in known}) \
            if cls else loss.get("class_name")
    metrics = compile_config.get("metrics")
    if metrics and not all(isinstance(m, str) for m in metrics):
        metrics = [m if isinstance(m, str) else m.get("config", {}).get("name") for m in metrics]
    model.compile(optimizer=optimizer or "adam", loss=loss, metrics=metrics)
