"""keras.datasets.fashion_mnist, read from Debian's dataset-fashion-mnist package.

The package installs Zalando's four IDX files, gzipped, in
/usr/share/datasets/fashion-mnist; plain (gunzipped) files are read as well.
"""

import gzip
import os

import numpy as np

_DIRECTORY = "/usr/share/datasets/fashion-mnist"
_INSTALL = "apt-get install dataset-fashion-mnist"
_UBYTE = 0x08


def load_data():
    """Returns (x_train, y_train), (x_test, y_test) as Keras' load_data() does.

    x_* are uint8 arrays (60000, 28, 28) and (10000, 28, 28); y_* are uint8
    labels 0-9, (60000,) and (10000,).

    Raises:
      FileNotFoundError: a file is missing; the message names the directory and
        the package that provides it.
      ValueError: a file is truncated or not the IDX file expected.
    """
    x_train = _read_idx("train-images-idx3-ubyte", (60000, 28, 28))
    y_train = _read_idx("train-labels-idx1-ubyte", (60000,))
    x_test = _read_idx("t10k-images-idx3-ubyte", (10000, 28, 28))
    y_test = _read_idx("t10k-labels-idx1-ubyte", (10000,))
    return (x_train, y_train), (x_test, y_test)


def _read_idx(name, shape):
    """Reads IDX file `name` (or name.gz) from _DIRECTORY; checks it has `shape`.

    IDX: two zero bytes, a type byte (0x08 unsigned byte), the number of
    dimensions, then each dimension as a big-endian uint32, then the data.
    """
    plain = os.path.join(_DIRECTORY, name)
    path = plain if os.path.exists(plain) else plain + ".gz"
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"fashion_mnist: neither {name} nor {name}.gz in {_DIRECTORY}; "
            f"install them with `{_INSTALL}`")
    try:
        if path.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            with open(path, "rb") as f:
                data = f.read()
    except (OSError, EOFError) as e:  # gzip raises both on damaged input
        raise ValueError(f"{path}: cannot be read ({e}); reinstall it with "
                         f"`apt-get install --reinstall dataset-fashion-mnist`") from None
    header = np.frombuffer(data[:4], np.uint8)
    if len(header) < 4 or header[0] or header[1] or header[2] != _UBYTE \
            or header[3] != len(shape):
        raise ValueError(f"{path}: not an IDX file of unsigned bytes with "
                         f"{len(shape)} dimension(s) (header {data[:4].hex()})")
    end = 4 + 4 * len(shape)
    if len(data) < end:
        raise ValueError(f"{path}: truncated IDX header ({len(data)} bytes)")
    dims = tuple(int(d) for d in np.frombuffer(data[4:end], ">u4"))
    if dims != shape or len(data) - end != int(np.prod(shape)):
        raise ValueError(f"{path}: holds {dims} with {len(data) - end} bytes of "
                         f"data; expected {shape} with {int(np.prod(shape))}")
    return np.frombuffer(data, np.uint8, offset=end).reshape(shape).copy()
