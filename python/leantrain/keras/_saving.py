"""Keras 3 `.keras` archives: the zip that `model.save("x.keras")` writes.

An archive holds three stored (uncompressed) members, in this order:
- `metadata.json`: {"keras_version": "3.15.1", "date_saved": "2026-12-07@18:20:38"}.
  Keras' `load_model` never reads it (only `KerasFileEditor` does), so the
  version string cannot cause a warning; we write the version whose layout we
  reproduce.
- `config.json`: the model's serialized dict ({"module", "class_name", "config",
  "registered_name", "build_config"}) plus "compile_config" ({} when the model
  was not compiled, as Keras writes it).
- `model.weights.h5`, laid out as keras/src/saving/saving_lib.py walks a model:
    vars/                       group, attrs {"name": <model name>}, no datasets
    layers/<key>/vars/<i>       one dataset per variable, i = 0, 1, ... in the
                                layer's trainable + non-trainable order; the
                                group's attrs {"name": <layer name>}; layers
                                without variables get an empty vars group
    optimizer/vars/<i>          optimizer variables, attrs {"name": <optimizer name>}
  <key> is the snake_case Python class name made unique in model.layers order
  (conv2d, conv2d_1, batch_normalization, re_lu, ...), not the layer's name.
  model.layers is the config's layer list, less the leading InputLayer of a
  Sequential (a Functional model keeps its InputLayers: layers/input_layer/vars).

Nested models and layers with sublayer state are refused, not guessed at.
"""

import datetime
import io
import json
import os
import re
import secrets
import zipfile

import h5py
import numpy as np

KERAS_VERSION = "3.15.1"
_METADATA = "metadata.json"
_CONFIG = "config.json"
_WEIGHTS = "model.weights.h5"
_MODEL_CLASSES = ("Sequential", "Functional", "Model")


def write_keras_archive(path, config, weights, compile_config=None, *,
                        optimizer_variables=None):
    """Writes a `.keras` archive that Keras 3's `keras.models.load_model` loads.

    Args:
      path: destination; must end in ".keras" (Keras refuses other names).
      config: the model's serialized dict, as `keras.saving.serialize_keras_object
        (model)` gives it, without "compile_config".
      weights: one (layer_name, [np.ndarray, ...]) pair per layer of
        model.layers, in that order, [] for layers without variables.
      compile_config: the dict `model.get_compile_config()` gives, or None.
      optimizer_variables: the optimizer's variables in Keras' order (for Adam:
        iterations int64, learning_rate float32, then momentum and velocity of
        each trainable variable in turn), or None to leave them out. Leaving them
        out while compile_config names an optimizer makes Keras warn "Skipping
        variable loading for optimizer ..." when it loads with compile=True; the
        weights still load.

    The file is replaced atomically: written to a temporary file in the same
    directory, fsynced, renamed over `path`, and the directory fsynced. On any
    error the previous file, if any, is untouched.

    Raises:
      ValueError: the path, config or weights do not fit; the message says which.
      OSError: the file could not be written.
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"{path}: a Keras archive's name must end in '.keras' "
                         "(keras.models.load_model refuses other names)")
    slots = _layer_slots(config, path)
    if "compile_config" in config:
        raise ValueError(f"{path}: pass compile_config as its own argument, "
                         "not inside config")
    weights = _check_weights_match(slots, weights, path)
    document = dict(config, compile_config=compile_config or {})
    try:
        config_json = json.dumps(document)
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: config is not JSON-serializable: {e}") from None
    metadata_json = json.dumps({
        "keras_version": KERAS_VERSION,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    })
    h5_bytes = _weights_h5_bytes(config, slots, weights, compile_config,
                                 optimizer_variables, path)
    _replace_atomically(path, _zip_writer([(_METADATA, metadata_json.encode()),
                                           (_CONFIG, config_json.encode()),
                                           (_WEIGHTS, h5_bytes)]))


def read_keras_archive(path):
    """Reads a `.keras` archive written by Keras 3 (or by write_keras_archive).

    Returns:
      (config, weights, compile_config): config is config.json's dict without
      "compile_config"; weights maps each layer name of model.layers to its
      arrays in the order of the h5 `vars` group (0, 1, ...), which is the order
      of `layer.get_weights()`; compile_config is None when the model was not
      compiled.

    Raises:
      FileNotFoundError: no file at `path`.
      ValueError: the file is not a zip, lacks a member, or its config and
        weights disagree; the message names the file and the part at fault.
    """
    path = os.fspath(path)
    if not zipfile.is_zipfile(path):
        if not os.path.exists(path):
            raise FileNotFoundError(f"{path}: no such file")
        raise ValueError(f"{path}: not a zip archive; a .keras file is the zip "
                         "that Keras' model.save('name.keras') writes")
    try:
        document, h5_bytes = _read_members(path)
    except zipfile.BadZipFile as e:
        raise ValueError(f"{path}: damaged zip archive ({e})") from None
    if not isinstance(document, dict):
        raise ValueError(f"{path}: {_CONFIG} holds a {type(document).__name__}, "
                         "not a model's dict")
    compile_config = document.pop("compile_config", None) or None
    slots = _layer_slots(document, path)
    try:
        h5 = h5py.File(io.BytesIO(h5_bytes), "r")
    except OSError as e:
        raise ValueError(f"{path}: {_WEIGHTS} is not an HDF5 file ({e})") from None
    with h5:
        weights = {name: _read_layer_vars(h5, name, cls, key, path)
                   for name, cls, key in slots}
        known = {key.split("/")[1] for _, _, key in slots}
        extra = sorted(set(h5.get("layers", {})) - known)
        if extra:
            raise ValueError(f"{path}: {_WEIGHTS} has weights for layers/"
                             f"{', layers/'.join(extra)}, which no layer in "
                             f"{_CONFIG} maps to; config and weights disagree")
    return document, weights, compile_config


def _read_members(path):
    """Returns (config.json parsed, model.weights.h5 bytes) of archive `path`."""
    with zipfile.ZipFile(path) as zf:
        members = set(zf.namelist())
        if _WEIGHTS not in members and "model.weights.npz" in members:
            raise ValueError(f"{path}: weights are in model.weights.npz; only the "
                             "default h5 format is read (save with "
                             "weights_format='h5')")
        missing = [m for m in (_CONFIG, _WEIGHTS) if m not in members]
        if missing:
            raise ValueError(f"{path}: missing member(s) {', '.join(missing)}; "
                             f"the archive has {sorted(members)}")
        try:
            document = json.loads(zf.read(_CONFIG))
        except ValueError as e:
            raise ValueError(f"{path}: {_CONFIG} is not valid JSON: {e}") from None
        return document, zf.read(_WEIGHTS)


def _snake_case(class_name):
    """Keras' naming.to_snake_case: "DepthwiseConv2D" -> "depthwise_conv2d"."""
    name = re.sub(r"\W+", "", class_name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def _layer_slots(document, where):
    """Returns [(layer_name, class_name, "layers/<key>")] in model.layers order.

    Raises ValueError naming `where` when the dict is not a Sequential or
    Functional model's, holds a nested model, or repeats a layer name.
    """
    cls = document.get("class_name") if isinstance(document, dict) else None
    layers = (document.get("config") or {}).get("layers") if cls else None
    if cls not in _MODEL_CLASSES or not isinstance(layers, list):
        raise ValueError(f"{where}: config is not a Sequential or Functional "
                         f"model's (class_name={cls!r}); expected the dict "
                         "keras.saving.serialize_keras_object(model) gives")
    if cls == "Sequential" and layers and layers[0].get("class_name") == "InputLayer":
        layers = layers[1:]  # Sequential.layers hides its input
    slots, used, names = [], {}, set()
    for entry in layers:
        layer_cls, name = entry.get("class_name"), entry.get("config", {}).get("name")
        if layer_cls in _MODEL_CLASSES:
            raise ValueError(f"{where}: layer '{name}' is a nested {layer_cls}; "
                             "nested models are not supported")
        if name in names:
            raise ValueError(f"{where}: two layers are named '{name}'")
        names.add(name)
        base = _snake_case(layer_cls)
        used[base] = used[base] + 1 if base in used else 0
        key = f"{base}_{used[base]}" if used[base] else base
        slots.append((name, layer_cls, f"layers/{key}"))
    return slots


def _check_weights_match(slots, weights, where):
    """Returns weights as [(name, arrays)] after checking them against slots."""
    try:
        weights = [(name, list(arrays)) for name, arrays in weights]
    except (TypeError, ValueError):
        raise ValueError(f"{where}: weights must be a list of (layer_name, "
                         "[np.ndarray, ...]) pairs") from None
    for i, (slot, pair) in enumerate(zip(slots, weights)):
        if pair[0] != slot[0]:
            raise ValueError(
                f"{where}: weights[{i}] is for layer '{pair[0]}' but model.layers"
                f"[{i}] in the config is '{slot[0]}' ({slot[1]}); pass one "
                "(layer_name, arrays) pair per layer in model.layers order, "
                "[] for layers without variables")
    if len(weights) != len(slots):
        raise ValueError(
            f"{where}: {len(weights)} (layer_name, arrays) pairs for "
            f"{len(slots)} layers in model.layers: "
            f"{[name for name, _, _ in slots]}")
    return weights


def _weights_h5_bytes(document, slots, weights, compile_config,
                      optimizer_variables, where):
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        h5.create_group("vars").attrs["name"] = document["config"].get("name", "")
        for (name, _, key), (_, arrays) in zip(slots, weights):
            _write_vars(h5.create_group(f"{key}/vars"), name, arrays, where)
        if optimizer_variables is not None:
            optimizer = (compile_config or {}).get("optimizer")
            if not isinstance(optimizer, dict):
                raise ValueError(f"{where}: optimizer_variables given but "
                                 "compile_config has no serialized optimizer")
            _write_vars(h5.create_group("optimizer/vars"),
                        optimizer["config"]["name"], optimizer_variables, where)
    return buffer.getvalue()


def _write_vars(group, name, arrays, where):
    group.attrs["name"] = name
    for i, array in enumerate(arrays):
        array = np.asarray(array)
        if array.dtype.kind not in "biuf":
            raise ValueError(f"{where}: variable {i} of '{name}' has dtype "
                             f"{array.dtype}; expected a numeric array")
        group[str(i)] = array


def _read_layer_vars(h5, name, cls, key, where):
    group = h5.get(f"{key}/vars")
    if not isinstance(group, h5py.Group):
        raise ValueError(f"{where}: layer '{name}' ({cls}) in {_CONFIG} has no "
                         f"group {key}/vars in {_WEIGHTS}; config and weights "
                         "disagree, or the file predates Keras 3's layout")
    # Keras matches layers by position (the group's key), not by the name it records: the same
    # architecture built again in one process has other names (conv2d_1 for conv2d).
    nested = sorted(set(h5[key]) - {"vars"})
    if nested:
        raise ValueError(f"{where}: layer '{name}' ({cls}) has sublayer state "
                         f"{nested}, which is not supported")
    keys = sorted(group, key=lambda k: int(k) if k.isdigit() else -1)
    if keys != [str(i) for i in range(len(keys))]:
        raise ValueError(f"{where}: {key}/vars has datasets {keys}; expected "
                         "0, 1, ... without gaps")
    arrays = []
    for k in keys:
        dataset = group[k]
        if dataset.attrs.get("dtype") == "bfloat16":
            raise ValueError(f"{where}: {key}/vars/{k} is bfloat16, which is not "
                             "supported; save the model in float32")
        arrays.append(np.asarray(dataset[()]))
    return arrays


def write_weights_h5(path, config, weights):
    """Keras 3's model.save_weights("x.weights.h5"): the archive's model.weights.h5 alone,
    replaced atomically. `config` and `weights` as write_keras_archive takes them."""
    path = os.fspath(path)
    slots = _layer_slots(config, path)
    weights = _check_weights_match(slots, weights, path)
    data = _weights_h5_bytes(config, slots, weights, None, None, path)
    _replace_atomically(path, lambda f: f.write(data))


def read_weights_h5(path, config):
    """The weights of a `.weights.h5` file as read_keras_archive returns them, for the model
    `config` describes. Raises FileNotFoundError, or ValueError naming the file and the part
    that does not fit the model."""
    path = os.fspath(path)
    slots = _layer_slots(config, path)
    try:
        h5 = h5py.File(path, "r")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: no such file") from None
    except OSError as e:
        raise ValueError(f"{path}: not an HDF5 file ({e})") from None
    with h5:
        return {name: _read_layer_vars(h5, name, cls, key, path) for name, cls, key in slots}


def _zip_writer(members):
    def write(f):
        with zipfile.ZipFile(f, "w", zipfile.ZIP_STORED) as zf:
            for name, data in members:
                zf.writestr(name, data)
    return write


def _replace_atomically(path, write):
    """Replaces `path` by what write(file) writes: a temporary file in the same directory,
    fsynced, renamed over `path`, then the directory fsynced."""
    directory = os.path.dirname(os.path.abspath(path))
    temp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}."
                                   f"{secrets.token_hex(4)}.tmp")
    # O_EXCL so no one else's file is reused; mode 0o666 so the umask applies
    # as it would to a plain open().
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(temp, path)
    except BaseException:
        try:
            os.unlink(temp)
        except FileNotFoundError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
