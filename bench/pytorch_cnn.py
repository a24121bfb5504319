#!/usr/bin/python3
"""PyTorch peer of leantrain's Fashion-MNIST CNN benchmark: the same Keras-style model and settings.

Model (Keras' classic MNIST CNN): Conv2d(1,32,3) relu, MaxPool2d(2), Conv2d(32,64,3) relu,
MaxPool2d(2), Flatten, Linear(1600,128) relu, Dropout(0.5), Linear(128,10); Keras default init
(glorot_uniform weights, zero biases); Adam lr 1e-3, eps 1e-7 (Keras' epsilon); batch 128,
shuffled each epoch from --seed; inputs scaled to [0, 1]; CrossEntropyLoss.

Data: the IDX .gz files of Debian's dataset-fashion-mnist, read with gzip + numpy (no download).
Images stay u8 (47 MB for train) and each batch is converted to f32 when it is drawn, as
leantrain's Batcher does, so peak memory compares the frameworks rather than the data layout.

Prints per epoch: train loss, train accuracy, test accuracy, seconds, training images/s (images
processed / time spent in training steps, evaluation excluded); at the end the peak resident
memory (getrusage ru_maxrss) and the BLAS torch has loaded. --report FILE writes them as JSON.

Run with Debian's interpreter (/usr/bin/python3), which has python3-torch:
  /usr/bin/python3 bench/pytorch_cnn.py --epochs 1 --threads 2 --report /tmp/pytorch.json
Choose the BLAS for one run without touching the system alternative with
  LD_LIBRARY_PATH=/usr/lib/x86_64-linux-gnu/blas (reference) or .../openblas-openmp (OpenBLAS).
"""
import argparse
import gzip
import json
import os
import resource
import sys
import time

import numpy as np
import torch
from torch import nn

DEFAULT_DATA_DIR = "/usr/share/datasets/fashion-mnist"
BLAS_LINK = "/usr/lib/x86_64-linux-gnu/libblas.so.3"


def read_idx_gz(path, expected_ndim):
    """Returns the u8 array stored in an IDX file (gzip or plain), checking magic and size."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        sys.exit(f"{path}: not a u8 IDX file (magic {data[:4].hex(' ')})")
    ndim = data[3]
    if ndim != expected_ndim or len(data) < 4 + 4 * ndim:
        sys.exit(f"{path}: expected {expected_ndim} dims, header says {ndim}")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(dims)):
        sys.exit(f"{path}: {payload.size:,} data bytes but dims {dims} need {int(np.prod(dims)):,}")
    return payload.reshape(dims)


def find(data_dir, stem):
    for name in (stem, stem + ".gz"):
        path = os.path.join(data_dir, name)
        if os.path.isfile(path):
            return path
    sys.exit(f"Fashion-MNIST not found in {data_dir} (missing {stem}(.gz)); install it with: "
             "apt-get install dataset-fashion-mnist (or pass --data-dir DIR holding the four IDX "
             "files)")


def load_fashion_mnist(data_dir):
    """Returns (train_x, train_y, test_x, test_y): x as u8 tensors (N, 1, 28, 28), y int64."""
    out = []
    for split in ("train", "t10k"):
        x = read_idx_gz(find(data_dir, f"{split}-images-idx3-ubyte"), 3)
        y = read_idx_gz(find(data_dir, f"{split}-labels-idx1-ubyte"), 1)
        if len(x) != len(y):
            sys.exit(f"{data_dir}: {split} has {len(x)} images but {len(y)} labels")
        out += [torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))]
    return out


def make_model():
    model = nn.Sequential(
        nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64 * 5 * 5, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, 10),
    )
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)  # Keras glorot_uniform (fans include kh*kw)
            nn.init.zeros_(m.bias)
    return model


# Keras' Rescaling(1/255): a multiply by the f32 reciprocal (leantrain's Batcher does the same).
SCALE = np.float32(1.0 / 255.0)


def to_input(x_u8, channels_last):
    x = x_u8.float().mul_(float(SCALE))
    return x.contiguous(memory_format=torch.channels_last) if channels_last else x


def evaluate(model, x_all, y_all, batch_size, channels_last):
    model.eval()
    correct = 0
    with torch.no_grad():
        for start in range(0, len(x_all), batch_size):
            x = to_input(x_all[start:start + batch_size], channels_last)
            correct += (model(x).argmax(1) == y_all[start:start + batch_size]).sum().item()
    model.train()
    return correct / len(x_all)


def loaded_blas():
    """Returns the resolved paths of the BLAS libraries mapped into this process."""
    paths = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            name = os.path.basename(path)
            if name.startswith(("libblas.so", "libopenblas", "libblis", "libmkl_rt")):
                paths.add(os.path.realpath(path))
    return sorted(paths)


def blas_description():
    config_blas = "?"
    for item in torch.__config__.show().replace(",", "\n").split("\n"):
        if "BLAS_INFO=" in item:
            config_blas = item.split("=", 1)[1].strip()
    libs = loaded_blas()
    # sgemm resolves to the libblas.so.3 that libtorch_cpu links directly; a libopenblas pulled
    # in only by liblapack.so.3 (Debian's OpenBLAS LAPACK alternative) serves LAPACK, not GEMM.
    blas3 = [p for p in libs if os.path.basename(p).startswith("libblas.so")]
    kind = ("openblas" if any("openblas" in p for p in blas3)
            else "reference" if any("/blas/" in p for p in blas3)
            else "other: " + ", ".join(blas3 or libs))
    alternative = os.path.realpath(BLAS_LINK)
    return kind, {"torch_blas_info": config_blas, "loaded_blas": libs,
                  "libblas_alternative": alternative}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--channels-last", action="store_true",
                    help="run with torch.channels_last (NHWC) activations and weights")
    ap.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    ap.add_argument("--limit-batches", type=int, default=0,
                    help="train on only the first N batches of each epoch (smoke tests)")
    ap.add_argument("--report", default="", help="write the figures as JSON to this file")
    args = ap.parse_args()
    if args.epochs < 1 or args.threads < 1 or args.batch_size < 1:
        ap.error("--epochs, --threads and --batch-size must be >= 1")

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(args.threads)
    torch.manual_seed(args.seed)  # initialization and dropout
    shuffle_gen = torch.Generator().manual_seed(args.seed)

    train_x, train_y, test_x, test_y = load_fashion_mnist(args.data_dir)
    model = make_model()
    if args.channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-7)
    loss_fn = nn.CrossEntropyLoss()
    n = len(train_x)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads, Fashion-MNIST "
          f"{n} train / {len(test_x)} test, batch {args.batch_size}"
          f"{', channels_last' if args.channels_last else ''}", flush=True)

    epochs = []
    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        perm = torch.randperm(n, generator=shuffle_gen)
        loss_sum, correct = 0.0, 0
        train_start = time.perf_counter()
        processed = 0
        for b, start in enumerate(range(0, n, args.batch_size)):  # a last partial batch is kept
            if args.limit_batches and b >= args.limit_batches:
                break
            idx = perm[start:start + args.batch_size]
            x = to_input(train_x[idx], args.channels_last)
            y = train_y[idx]
            optimizer.zero_grad(set_to_none=True)
            logits = model(x)
            loss = loss_fn(logits, y)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(idx)
            processed += len(idx)
            correct += (logits.argmax(1) == y).sum().item()
        train_seconds = time.perf_counter() - train_start
        test_accuracy = evaluate(model, test_x, test_y, args.batch_size, args.channels_last)
        seconds = time.perf_counter() - epoch_start
        record = {"epoch": epoch, "loss": loss_sum / processed, "accuracy": correct / processed,
                  "test_accuracy": test_accuracy, "seconds": seconds,
                  "train_seconds": train_seconds, "images": processed,
                  "images_per_second": processed / train_seconds}
        epochs.append(record)
        print(f"epoch {epoch}/{args.epochs}: loss {record['loss']:.4f}, accuracy "
              f"{record['accuracy']:.4f}, test accuracy {test_accuracy:.4f}, {seconds:.1f} s "
              f"({train_seconds:.1f} s training), {record['images_per_second']:.0f} images/s",
              flush=True)

    peak_rss_bytes = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    blas, blas_details = blas_description()
    print(f"peak resident memory: {peak_rss_bytes / 2**20:.1f} MiB ({peak_rss_bytes} bytes)")
    print(f"BLAS: {blas}; loaded {', '.join(blas_details['loaded_blas']) or 'none'}; "
          f"libblas.so.3 alternative -> {blas_details['libblas_alternative']}; "
          f"torch BLAS_INFO={blas_details['torch_blas_info']}")
    if args.report:
        report = {
            "framework": "pytorch", "torch_version": torch.__version__, "blas": blas,
            **blas_details, "threads": args.threads, "batch_size": args.batch_size,
            "channels_last": args.channels_last, "seed": args.seed, "epochs": epochs,
            "images_per_second": sum(e["images_per_second"] for e in epochs) / len(epochs),
            "test_accuracy": epochs[-1]["test_accuracy"],
            "peak_rss_bytes": peak_rss_bytes,
        }
        with open(args.report, "w") as f:
            json.dump(report, f, indent=2)
        print(f"report written to {args.report}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
