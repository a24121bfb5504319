#!/usr/bin/env python3
"""Side-by-side: the Fashion-MNIST CNN trained by leantrain and by PyTorch, same settings.

Runs, one after the other on the same machine and threads:
  1. leantrain  (build/leantrain train --report ...)
  2. PyTorch with OpenBLAS (Debian's libopenblas0-openmp), its fastest configuration here
  3. PyTorch with the reference BLAS (Debian's default libblas3), for context
and prints images/s, peak resident memory of each process, and leantrain's ratios against the
faster PyTorch run. Each process reports its own figures as JSON.

Usage: bench/cnn_vs_pytorch.py [--epochs N] [--threads 2] [--out bench-results.json]
Run scripts/setup-deps --bench first (bench/run-cnn-vs-pytorch does).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LIBDIR = "/usr/lib/x86_64-linux-gnu"
BLAS_DIRS = {"openblas": f"{LIBDIR}/openblas-openmp", "reference": f"{LIBDIR}/blas"}


def run(cmd, env, report):
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, env=env, check=True)
    with open(report) as f:
        return json.load(f)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip-reference-blas", action="store_true")
    ap.add_argument("--out", default="")
    args = ap.parse_args()

    base_env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    tmp = tempfile.mkdtemp(prefix="leantrain-bench-")
    results = {}

    report = os.path.join(tmp, "leantrain.json")
    results["leantrain"] = run(
        [os.path.join(ROOT, "build", "leantrain"), "train", "--model", "cnn", "--data",
         "fashion-mnist", "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
         "--seed", str(args.seed), "--threads", str(args.threads), "--verbose", "2",
         "--report", report], base_env, report)

    for blas, libdir in BLAS_DIRS.items():
        if blas == "reference" and args.skip_reference_blas:
            continue
        if not os.path.exists(os.path.join(libdir, "libblas.so.3")):
            print(f"note: {libdir}/libblas.so.3 missing; skipping PyTorch with {blas} BLAS")
            continue
        env = dict(base_env, LD_LIBRARY_PATH=libdir)
        report = os.path.join(tmp, f"pytorch-{blas}.json")
        results[f"pytorch-{blas}"] = run(
            ["/usr/bin/python3", os.path.join(ROOT, "bench", "pytorch_cnn.py"), "--epochs",
             str(args.epochs), "--threads", str(args.threads), "--seed", str(args.seed),
             "--report", report], env, report)

    mib = 1024.0 * 1024.0
    print()
    print(f"Fashion-MNIST CNN, batch {args.batch_size}, Adam 1e-3, {args.epochs} epoch(s), "
          f"{args.threads} threads")
    print(f"{'run':<20} {'images/s':>10} {'peak RSS MiB':>13} {'test acc':>9}")
    for name, r in results.items():
        print(f"{name:<20} {r['images_per_second']:>10.0f} {r['peak_rss_bytes'] / mib:>13.1f} "
              f"{r.get('test_accuracy', float('nan')):>9.4f}")
    torch_runs = [r for n, r in results.items() if n.startswith("pytorch")]
    if torch_runs:
        best = max(torch_runs, key=lambda r: r["images_per_second"])
        lt = results["leantrain"]
        speed = lt["images_per_second"] / best["images_per_second"]
        mem = lt["peak_rss_bytes"] / best["peak_rss_bytes"]
        print(f"leantrain vs fastest PyTorch ({best.get('blas', '?')}): "
              f"{speed:.2f}x images/s (target >= 1.5x), {mem:.2f}x peak RSS (target <= 0.4x)")
        pred, meas = lt["predicted_peak_bytes"], lt["measured_peak_bytes"]
        print(f"leantrain predicted peak {pred / mib:.1f} MiB, measured {meas / mib:.1f} MiB "
              f"({100.0 * (meas - pred) / pred:+.1f}%, target within 10%)")
        results["ratios"] = {"images_per_second": speed, "peak_rss": mem}
    if args.out:
        with open(args.out, "w") as f:
            json.dump(results, f, indent=2)
        print(f"results written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
