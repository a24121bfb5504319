#!/usr/bin/python3
"""The input pipeline side by side with PyTorch's DataLoader, and its memory bound.

What it measures, on class-folder trees of 256x256 RGB JPEGs that `leantrain export-images`
writes from Fashion-MNIST (--small and --large images from the training split):

1. Throughput and peak memory of one pass: decode, resize to 224x224, random horizontal flip,
   normalize (ImageNet mean/std), batches of 64, 2 workers.
   - leantrain: `leantrain data-bench --data dir:... --augment flip --normalize --antialias
     --threads 2` (one process, the pipeline's own worker threads).
   - PyTorch: torchvision ImageFolder + DataLoader(num_workers=2, shuffle=True), PIL loading,
     transforms Resize(224) (PIL bilinear with antialiasing) + RandomHorizontalFlip + ToTensor +
     Normalize, run in a child process.
   Both on the --small tree, one after the other in this run. Peak memory is sampled every
   20 ms over the process and all its descendants: the sum of their proportional set sizes
   (PSS: a page shared by n processes counts 1/n, so forked workers are not charged for pages
   they share) and the sum of their resident sets (RSS: shared pages counted in each process).
2. Bounded memory: leantrain over the --large tree against the --small one (the process's peak
   RSS, VmHWM). Each leantrain pass runs --repeats times: how full the pipeline's bounded
   buffers get depends on timing (with no training step to wait for, the consumer usually finds
   them near empty, and now and then full), so the peaks vary from run to run by up to the
   buffers' bound; the report gives the median and the largest of each.
3. libjpeg-turbo's own decode rate (tjbench, from Debian's libjpeg-turbo-progs) on one of the
   JPEGs at full size, which is what the pipeline decodes for 256 -> 224 (it uses DCT scales
   1/8, 1/4, 1/2 only, the SIMD-accelerated ones; 7/8 is slower than a full decode, and tjbench
   reports that rate too); one thread, times --threads for the ceiling of decoding alone.

Writes a JSON report (--report) and prints a table. Nothing is downloaded.
"""
import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEANTRAIN = os.path.join(ROOT, "build", "leantrain")


def descendants(pid):
    out = [pid]
    i = 0
    while i < len(out):
        p = out[i]
        i += 1
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    out.extend(int(c) for c in f.read().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return out


def tree_memory(pid):
    """(PSS sum, RSS sum) in bytes over pid and its descendants."""
    pss = rss = 0
    for p in descendants(pid):
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                    elif line.startswith("Rss:"):
                        rss += int(line.split()[1]) * 1024
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            pass
    return pss, rss


def run_sampled(cmd, env=None):
    """Runs cmd, sampling the tree's memory; returns (stdout, peak PSS, peak RSS, seconds)."""
    start = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env=env)
    peak = [0, 0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            pss, rss = tree_memory(proc.pid)
            peak[0] = max(peak[0], pss)
            peak[1] = max(peak[1], rss)
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    out, _ = proc.communicate()
    done.set()
    t.join()
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{out}")
    return out, peak[0], peak[1], time.time() - start


def ensure_tree(images, size, out_root):
    """A class-folder tree of `images` RGB JPEGs of size x size (reused when complete)."""
    root = os.path.join(out_root, f"fashion-mnist-{size}-rgb-{images}")
    train = os.path.join(root, "train")
    if len(glob.glob(os.path.join(train, "*", "*.jpg"))) != images:
        subprocess.run(["rm", "-rf", root], check=True)
        subprocess.run([LEANTRAIN, "export-images", "--data", "fashion-mnist", "--out", root,
                        "--size", str(size), "--rgb", "--split", "train", "--limit",
                        str(images)], check=True)
    return train


def leantrain_pass(tree, args, report):
    cmd = [LEANTRAIN, "data-bench", "--data", "dir:" + tree, "--image-size", "224x224",
           "--batch-size", str(args.batch_size), "--augment", "flip", "--normalize",
           "--antialias", "--threads", str(args.threads), "--epochs", str(args.epochs),
           "--report", report]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out, pss, rss, _ = run_sampled(cmd, env)
    with open(report) as f:
        r = json.load(f)
    return {"images_per_second": r["images_per_second"], "images": r["images"],
            "seconds": r["seconds"], "peak_pss_bytes": pss, "peak_rss_sum_bytes": rss,
            "process_peak_rss_bytes": r["peak_rss_bytes"],
            "pipeline_peak_buffered_bytes": r["peak_buffered_bytes"],
            "pipeline_max_buffered_bytes": r["max_buffered_bytes"], "output": out}


PYTORCH_CHILD = r"""
import sys, time, torch, torchvision
from torchvision import transforms
root, batch, workers, epochs, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
torch.manual_seed(0)
t = transforms.Compose([transforms.Resize(224), transforms.RandomHorizontalFlip(),
                        transforms.ToTensor(),
                        transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
ds = torchvision.datasets.ImageFolder(root, transform=t)
loader = torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=True, num_workers=workers)
start = time.time()
n = 0
for _ in range(epochs):
    for x, y in loader:
        n += x.shape[0]
s = time.time() - start
print(f"PYTORCH images={n} seconds={s:.3f} images_per_second={n / s:.1f} shape={tuple(x.shape)}")
"""


def pytorch_pass(tree, args):
    cmd = ["/usr/bin/python3", "-c", PYTORCH_CHILD, tree, str(args.batch_size), str(args.threads),
           str(args.epochs), str(args.threads)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    out, pss, rss, _ = run_sampled(cmd, env)
    m = re.search(r"PYTORCH images=(\d+) seconds=([\d.]+) images_per_second=([\d.]+)", out)
    if not m:
        sys.exit("the PyTorch child printed no result:\n" + out)
    return {"images": int(m.group(1)), "seconds": float(m.group(2)),
            "images_per_second": float(m.group(3)), "peak_pss_bytes": pss,
            "peak_rss_sum_bytes": rss, "output": out.strip()}


def tjbench_rate(jpeg, scale):
    """Decoded images/s of one thread (tjbench's decompression rate, fast DCT, RGB output)."""
    cmd = ["tjbench", jpeg, "-rgb", "-fastdct", "-benchtime", "3", "-warmup", "1", "-quiet"]
    if scale:
        cmd += ["-scale", scale]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    # -quiet prints a table: the last number on the data line is decompression Mpixels/s.
    rows = [l for l in out.splitlines() if l.startswith("RGB")]
    if not rows:
        sys.exit("cannot read tjbench's output:\n" + out)
    fields = rows[-1].split()
    mpixels = float(fields[-1])
    return {"command": " ".join(cmd), "decompress_mpixels_per_second": mpixels,
            "line": rows[-1].strip()}


def mib(b):
    return f"{b / 2**20:.1f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--small", type=int, default=2000)
    ap.add_argument("--large", type=int, default=20000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3, help="leantrain passes per tree")
    ap.add_argument("--data-root", default=os.path.join(ROOT, "build", "bench-data"))
    ap.add_argument("--report", default=os.path.join(ROOT, "build", "bench-data",
                                                     "data_vs_pytorch.json"))
    args = ap.parse_args()
    os.makedirs(args.data_root, exist_ok=True)
    small = ensure_tree(args.small, 256, args.data_root)
    large = ensure_tree(args.large, 256, args.data_root)

    def passes(tree, name):
        runs = [leantrain_pass(tree, args, os.path.join(args.data_root, f"lt-{name}-{i}.json"))
                for i in range(args.repeats)]
        runs.sort(key=lambda r: r["process_peak_rss_bytes"])
        median = runs[len(runs) // 2]
        return dict(median, peak_rss_runs=[r["process_peak_rss_bytes"] for r in runs],
                    images_per_second_runs=[r["images_per_second"] for r in runs])

    lt_small = passes(small, "small")
    pt_small = pytorch_pass(small, args)
    lt_large = passes(large, "large")

    # tjbench writes its decoded images beside its input: give it a copy in a scratch directory.
    with tempfile.TemporaryDirectory() as scratch:
        sample = os.path.join(scratch, "sample.jpg")
        shutil.copy(sorted(glob.glob(os.path.join(small, "*", "*.jpg")))[0], sample)
        tj_full = tjbench_rate(sample, None)
        tj_scaled = tjbench_rate(sample, "7/8")

    speed = lt_small["images_per_second"] / pt_small["images_per_second"]
    pss_ratio = lt_small["peak_pss_bytes"] / pt_small["peak_pss_bytes"]
    rss_ratio = lt_small["peak_rss_sum_bytes"] / pt_small["peak_rss_sum_bytes"]
    bound = lt_large["process_peak_rss_bytes"] / lt_small["process_peak_rss_bytes"] - 1
    bound_max = max(lt_large["peak_rss_runs"]) / max(lt_small["peak_rss_runs"]) - 1
    full_rate = tj_full["decompress_mpixels_per_second"] * 1e6 / (256 * 256) * args.threads
    # tjbench counts the source image's pixels at every scale.
    scaled_rate = tj_scaled["decompress_mpixels_per_second"] * 1e6 / (256 * 256) * args.threads

    print(f"\n{args.small} JPEGs 256x256 RGB -> 224x224, flip, normalize, batch "
          f"{args.batch_size}, {args.threads} workers, {args.epochs} epoch(s)")
    print(f"{'':28}{'images/s':>10}{'peak PSS':>14}{'peak RSS sum':>15}")
    for name, r in (("leantrain data-bench", lt_small), ("PyTorch DataLoader", pt_small)):
        print(f"{name:28}{r['images_per_second']:>10.1f}{mib(r['peak_pss_bytes']):>14}"
              f"{mib(r['peak_rss_sum_bytes']):>15}")
    print(f"{'leantrain / PyTorch':28}{speed:>9.2f}x{pss_ratio:>13.2f}x{rss_ratio:>14.2f}x")
    print(f"\nBounded memory, peak RSS of a pass (median of {args.repeats}; largest): "
          f"{args.large} JPEGs {mib(lt_large['process_peak_rss_bytes'])}; "
          f"{mib(max(lt_large['peak_rss_runs']))} vs {args.small}: "
          f"{mib(lt_small['process_peak_rss_bytes'])}; {mib(max(lt_small['peak_rss_runs']))} "
          f"({bound:+.1%}; {bound_max:+.1%}). Pipeline buffers' bound: "
          f"{mib(lt_large['pipeline_max_buffered_bytes'])} and "
          f"{mib(lt_small['pipeline_max_buffered_bytes'])}; "
          f"{lt_large['images_per_second']:.1f} images/s over {args.large}")
    print(f"libjpeg-turbo (tjbench, 1 thread x {args.threads}): full-size decode "
          f"{full_rate:.0f} images/s (7/8-scale decode {scaled_rate:.0f} images/s); the "
          f"pipeline (decode + resize + flip + normalize + batch) reaches "
          f"{lt_small['images_per_second'] / full_rate:.0%} of the full-size decode rate")
    report = {"small": args.small, "large": args.large, "threads": args.threads,
              "batch_size": args.batch_size, "epochs": args.epochs,
              "leantrain_small": lt_small, "pytorch_small": pt_small, "leantrain_large": lt_large,
              "tjbench_full": tj_full, "tjbench_7_8": tj_scaled,
              "speed_ratio": speed, "pss_ratio": pss_ratio, "rss_sum_ratio": rss_ratio,
              "large_vs_small_peak_rss": bound, "large_vs_small_peak_rss_largest": bound_max,
              "tjbench_images_per_second_full": full_rate,
              "tjbench_images_per_second_7_8": scaled_rate}
    with open(args.report, "w") as f:
        json.dump(report, f, indent=2)
    print(f"Report written to {args.report}")


if __name__ == "__main__":
    main()
