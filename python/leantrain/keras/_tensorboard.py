"""Scalar event files that TensorBoard reads, as Keras' TensorBoard callback writes.

A file is a sequence of TFRecords, each framed as
  uint64 length | uint32 masked_crc32c(length) | data | uint32 masked_crc32c(data)
(all little-endian), whose data is a serialized `tensorflow.Event` protobuf. The
first record is Event{wall_time, file_version: "brain.Event:2"}; each scalar is
Event{wall_time, step, summary{value{tag, ...}}}. The few protobuf fields needed
are encoded by hand below (field numbers from tensorflow/core/util/event.proto,
framework/summary.proto and framework/tensor.proto).

A Summary.Value holds either `simple_value` or `tensor` (a proto oneof, so never
both); ScalarForm picks which:
- SIMPLE_VALUE (default): float simple_value. Read as a scalar by everything:
  tensorboard's EventAccumulator.Scalars(), its plugin accumulator and the
  TensorBoard UI (both migrate it to the scalars plugin), and
  tf.compat.v1.train.summary_iterator.
- TENSOR: a 0-d DT_FLOAT tensor with metadata {plugin_data {plugin_name:
  "scalars"}}, byte for byte the Value TF 2.21's tf.summary.scalar writes under
  Keras 3 (TF leaves data_class unset; TensorBoard fills it in on reading).
  The TensorBoard UI and the plugin accumulator's Tensors() read it; the
  legacy EventAccumulator.Scalars() does not (it lists it under Tensors()).

What Keras 3.15's TensorBoard callback writes per epoch (update_freq="epoch"):
- logdir/train: "epoch_<name>" for each log entry not starting with "val_"
  (epoch_loss, epoch_accuracy, ...), then "epoch_learning_rate", at step = the
  0-based epoch; keras_epoch_scalars() gives these.
- logdir/validation: "epoch_<name>" for each "val_<name>" entry, same step; and
  at each validation's end "evaluation_<name>_vs_iterations" with step = the
  optimizer's iteration count.
With write_graph=True (its default) Keras also puts the model's config, as a
"keras" text summary, and a graph in logdir/train; those are not written here.
"""

import enum
import itertools
import os
import socket
import struct
import threading
import time

import numpy as np

_FILE_VERSION = "brain.Event:2"
_WRITER_NAME = "leantrain"
_DT_FLOAT = 1
_file_ids = itertools.count()  # TF numbers a process's event files 0, 1, ...
_file_ids_lock = threading.Lock()


class ScalarForm(enum.Enum):
    SIMPLE_VALUE = "simple_value"
    TENSOR = "tensor"


class EventFileWriter:
    """Appends scalar Events to a new event file under `logdir`.

    The file is named events.out.tfevents.<10-digit unix seconds>.<hostname>.
    <pid>.<n>.v2, n counting the files this process opened, as TF names them.
    Not thread-safe: one writer per thread, or lock around it.

    Raises OSError when `logdir` cannot be created or the file cannot be written.
    """

    def __init__(self, logdir, scalar_form=ScalarForm.SIMPLE_VALUE):
        if not isinstance(scalar_form, ScalarForm):
            raise ValueError(f"scalar_form={scalar_form!r}; expected "
                             "ScalarForm.SIMPLE_VALUE or ScalarForm.TENSOR")
        self._scalar_form = scalar_form
        os.makedirs(logdir, exist_ok=True)
        with _file_ids_lock:
            file_id = next(_file_ids)
        seconds = int(time.time())
        self.path = os.path.join(
            os.fspath(logdir), f"events.out.tfevents.{seconds:010d}."
            f"{socket.gethostname()}.{os.getpid()}.{file_id}.v2")
        self._file = open(self.path, "xb")
        self._file.write(_record(_event(float(seconds), 0, file_version=_FILE_VERSION)))
        self._file.flush()

    def add_scalar(self, tag, value, step, wall_time=None):
        """Appends `value` (stored as float32) under `tag` at `step`.

        Raises ValueError for an empty or non-string tag or a non-integer step.
        """
        if not isinstance(tag, str) or not tag:
            raise ValueError(f"{self.path}: tag={tag!r}; expected a non-empty str")
        if not isinstance(step, (int, np.integer)) or isinstance(step, bool):
            raise ValueError(f"{self.path}: step={step!r} for tag {tag!r}; "
                             "expected an int")
        wall_time = time.time() if wall_time is None else float(wall_time)
        summary_value = _scalar_value(tag, np.float32(value), self._scalar_form)
        self._file.write(_record(_event(wall_time, int(step),
                                        summary=_bytes(1, summary_value))))

    def flush(self):
        """Hands the written events to the OS, so that readers see them."""
        self._file.flush()

    def close(self):
        """Flushes, fsyncs and closes the file; later calls do nothing."""
        if not self._file.closed:
            self._file.flush()
            os.fsync(self._file.fileno())
            self._file.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def keras_epoch_scalars(logs, learning_rate=None):
    """Splits epoch-end `logs` into ({tag: value} for train, for validation).

    Tags as Keras' TensorBoard callback names them: {"loss", "val_loss",
    "accuracy"} -> ({"epoch_loss", "epoch_accuracy", "epoch_learning_rate"},
    {"epoch_loss"}); the learning rate is added to train when given.
    """
    train = {f"epoch_{k}": v for k, v in logs.items() if not k.startswith("val_")}
    if learning_rate is not None:
        train["epoch_learning_rate"] = learning_rate
    validation = {f"epoch_{k[4:]}": v for k, v in logs.items() if k.startswith("val_")}
    return train, validation


# CRC32C (Castagnoli, reflected polynomial 0x82F63B78), one byte per step.
_CRC32C_TABLE = []
for _byte in range(256):
    _crc = _byte
    for _ in range(8):
        _crc = (_crc >> 1) ^ (0x82F63B78 if _crc & 1 else 0)
    _CRC32C_TABLE.append(_crc)
del _byte, _crc


def crc32c(data):
    """CRC32C of `data` bytes: crc32c(b"123456789") == 0xE3069283."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    """TFRecord's masked CRC: rotate right by 15, add 0xA282EAD8 (mod 2**32)."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _record(data):
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", masked_crc32c(length)) + data
            + struct.pack("<I", masked_crc32c(data)))


# Protobuf wire format: key = field << 3 | wire type (0 varint, 1 fixed64,
# 2 length-delimited, 5 fixed32). Fields are written in field-number order and
# zero scalars are left out, as proto3 serializers do.
def _varint(n):
    n &= 0xFFFFFFFFFFFFFFFF  # negative int64 as two's complement, 10 bytes
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _bytes(field, data):
    return _varint(field << 3 | 2) + _varint(len(data)) + data


def _uint(field, n):
    return _varint(field << 3) + _varint(n) if n else b""


def _event(wall_time, step, file_version=None, summary=None):
    out = _varint(1 << 3 | 1) + struct.pack("<d", wall_time) + _uint(2, step)
    if file_version is not None:
        out += _bytes(3, file_version.encode())
    if summary is not None:
        out += _bytes(5, summary)
    if file_version is not None:
        out += _bytes(10, _bytes(1, _WRITER_NAME.encode()))  # source_metadata.writer
    return out


def _scalar_value(tag, value, form):
    """Summary.Value{tag = 1, simple_value = 2 | tensor = 8, metadata = 9}."""
    out = _bytes(1, tag.encode())
    if form is ScalarForm.SIMPLE_VALUE:
        return out + _varint(2 << 3 | 5) + struct.pack("<f", value)
    tensor = (_uint(1, _DT_FLOAT) + _bytes(2, b"")          # dtype, shape ()
              + _bytes(4, struct.pack("<f", value)))         # tensor_content
    metadata = _bytes(1, _bytes(1, b"scalars"))  # plugin_data.plugin_name
    return out + _bytes(8, tensor) + _bytes(9, metadata)
