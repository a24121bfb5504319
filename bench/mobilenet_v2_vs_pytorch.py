#!/usr/bin/python3
"""MobileNetV2 training at 224x224 in leantrain and in PyTorch, side by side; and leantrain's
predicted peak against its measured one.

Runs one after the other on the same machine and threads (2), each in its own process, on
seeded synthetic data (no disk): SGD with momentum 0.9, learning rate 0.01, 1000 classes.

  leantrain  build/leantrain train --model mobilenet_v2 --data synthetic:224x224x3:1000
             --batch-size B --steps N [--memory-budget X] --report FILE
             - keep everything, at each --batch-sizes (the prediction table);
             - at --budget-fraction (default 0.35) of the keep-everything predicted peak, when
               the build has --memory-budget.
  PyTorch    torchvision.models.mobilenet_v2 (Debian's python3-torch with OpenBLAS) at the
             largest batch: channels_last memory format (its fastest here), the default
             layout, and torch.utils.checkpoint.checkpoint_sequential over the features
             (4 segments).

Figures per run: images/s over the N steps (the first step included for both), the process's
peak RSS (VmHWM) and, for leantrain, the predicted peak against the measured one (peak RSS minus
the RSS before the model was built, as `train` reports it).

With bf16 storage (--bf16, on by default): its images/s and peak, and its per-step losses
against keep-all's (derived from the batch-end running means). The 0.35 P run's loss curve is
compared with keep-all's bit for bit.

Usage: bench/mobilenet_v2_vs_pytorch.py [--steps 10] [--batch-sizes 8,16,32]
       [--budget-fraction 0.35] [--no-bf16] [--report FILE]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LEANTRAIN = os.path.join(ROOT, "build", "leantrain")
OPENBLAS = "/usr/lib/x86_64-linux-gnu/openblas-openmp"

PYTORCH_CHILD = r"""
import json, resource, sys, time, torch, torchvision
from torch.utils.checkpoint import checkpoint_sequential
batch, steps, threads, mode, report = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
torch.set_num_threads(threads)
torch.manual_seed(0)
model = torchvision.models.mobilenet_v2(num_classes=1000)
x = torch.rand(batch, 3, 224, 224)
y = torch.randint(0, 1000, (batch,))
if mode == "channels_last":
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
model.train()
opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
loss_fn = torch.nn.CrossEntropyLoss()
def forward(inp):
    if mode == "checkpoint":
        inp.requires_grad_(True)
        f = checkpoint_sequential(model.features, 4, inp)
        f = torch.nn.functional.adaptive_avg_pool2d(f, 1).flatten(1)
        return model.classifier(f)
    return model(inp)
losses = []
start = time.time()
for _ in range(steps):
    opt.zero_grad(set_to_none=True)
    loss = loss_fn(forward(x), y)
    loss.backward()
    opt.step()
    losses.append(loss.item())
seconds = time.time() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
json.dump({"images_per_second": batch * steps / seconds, "seconds": seconds,
           "peak_rss_bytes": peak, "losses": losses, "torch": torch.__version__}, open(report, "w"))
"""


def run(cmd, env):
    print("+", " ".join(cmd), flush=True)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc.stdout


def leantrain(batch, steps, threads, tmp, budget=None, bf16=False):
    report = os.path.join(tmp, f"lt-{batch}-{budget or 'all'}{'-bf16' if bf16 else ''}.json")
    cmd = [LEANTRAIN, "train", "--model", "mobilenet_v2", "--data", "synthetic:224x224x3:1000",
           "--batch-size", str(batch), "--synthetic-batches", str(steps), "--steps", str(steps),
           "--epochs", "1", "--optimizer", "sgd", "--momentum", "0.9", "--learning-rate", "0.01",
           "--threads", str(threads), "--data-threads", "1", "--project", "", "--verbose", "2",
           "--report", report]
    if budget:
        cmd += ["--memory-budget", str(budget)]
    if bf16:
        cmd += ["--bf16-storage"]
    out = run(cmd, dict(os.environ, OMP_NUM_THREADS=str(threads), OMP_WAIT_POLICY="PASSIVE"))
    with open(report) as f:
        r = json.load(f)
    r["stdout"] = out
    return r


def pytorch(batch, steps, threads, mode, tmp):
    report = os.path.join(tmp, f"pt-{mode}.json")
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), LD_LIBRARY_PATH=OPENBLAS)
    run(["/usr/bin/python3", "-c", PYTORCH_CHILD, str(batch), str(steps), str(threads), mode,
         report], env)
    with open(report) as f:
        return json.load(f)


def step_losses(r):
    """Per-step losses from the running means Keras' batch-end logs report (equal batches)."""
    m = r["batch_end_losses"]
    return [m[0]] + [(k + 1) * m[k] - k * m[k - 1] for k in range(1, len(m))]


def mib(b):
    return f"{b / 2**20:,.0f} MiB"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-sizes", default="8,16,32")
    ap.add_argument("--budget-fraction", type=float, default=0.35)
    ap.add_argument("--skip-pytorch", action="store_true")
    ap.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                    help="also run keep-all with bf16 storage at the largest batch")
    ap.add_argument("--report", default=os.path.join(ROOT, "build", "mobilenet_v2_vs_pytorch.json"))
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="leantrain-mnv2-")
    batches = [int(b) for b in args.batch_sizes.split(",")]
    largest = max(batches)

    results = {"steps": args.steps, "threads": args.threads, "leantrain": {}, "pytorch": {}}
    for b in batches:
        results["leantrain"][f"keep_all_b{b}"] = leantrain(b, args.steps, args.threads, tmp)
    keep = results["leantrain"][f"keep_all_b{largest}"]
    has_budget = "--memory-budget" in run([LEANTRAIN, "train", "--help"], os.environ)
    if has_budget and args.budget_fraction > 0:
        budget = int(keep["predicted_peak_bytes"] * args.budget_fraction)
        results["leantrain"]["budget"] = leantrain(largest, args.steps, args.threads, tmp, budget)
        results["budget_bytes"] = budget
    if args.bf16:
        results["leantrain"]["bf16"] = leantrain(largest, args.steps, args.threads, tmp, bf16=True)
    if not args.skip_pytorch:
        for mode in ("channels_last", "default", "checkpoint"):
            results["pytorch"][mode] = pytorch(largest, args.steps, args.threads, mode, tmp)

    print(f"\nMobileNetV2 224x224x3, 1000 classes, SGD momentum 0.9, {args.steps} steps, "
          f"{args.threads} threads")
    print("leantrain prediction (keep everything):")
    print(f"{'batch':>6}{'predicted':>12}{'measured':>12}{'error':>8}{'images/s':>10}{'peak RSS':>12}")
    for b in batches:
        r = results["leantrain"][f"keep_all_b{b}"]
        err = r["measured_peak_bytes"] / r["predicted_peak_bytes"] - 1
        r["prediction_error"] = err
        print(f"{b:>6}{mib(r['predicted_peak_bytes']):>12}{mib(r['measured_peak_bytes']):>12}"
              f"{err:>+8.1%}{r['images_per_second']:>10.1f}{mib(r['peak_rss_bytes']):>12}")
    rows = [(f"leantrain keep all b{largest}", keep)]
    if "budget" in results["leantrain"]:
        r = results["leantrain"]["budget"]
        rows.append((f"leantrain {args.budget_fraction:.2f} P b{largest}", r))
        print(f"budget {mib(results['budget_bytes'])}: plan {r.get('plan', '?')}, predicted "
              f"{mib(r['predicted_peak_bytes'])}, measured {mib(r['measured_peak_bytes'])}, "
              f"step time {keep['images_per_second'] / r['images_per_second']:.2f}x keep-all's")
        same = r["batch_end_losses"] == keep["batch_end_losses"]
        results["budget_losses_bitwise_equal"] = same
        print(f"  loss curve over {len(keep['batch_end_losses'])} steps "
              f"{'bitwise identical to' if same else 'DIFFERS from'} keep-all's")
    if "bf16" in results["leantrain"]:
        r = results["leantrain"]["bf16"]
        rows.append((f"leantrain bf16 storage b{largest}", r))
        ref, got = step_losses(keep), step_losses(r)
        worst = max(abs(g - e) / abs(e) for g, e in zip(got, ref))
        results["bf16_max_relative_loss_difference"] = worst
        print(f"bf16 storage: predicted {mib(r['predicted_peak_bytes'])}, measured "
              f"{mib(r['measured_peak_bytes'])}, step time "
              f"{keep['images_per_second'] / r['images_per_second']:.2f}x keep-all's; per-step "
              f"loss over {len(got)} steps within {worst:.3%} of keep-all's (largest)")
    for mode, r in results["pytorch"].items():
        rows.append((f"PyTorch {mode} b{largest}", r))
    print(f"\n{'run':<30}{'images/s':>10}{'peak RSS':>12}")
    for name, r in rows:
        print(f"{name:<30}{r['images_per_second']:>10.1f}{mib(r['peak_rss_bytes']):>12}")
    if results["pytorch"]:
        best = results["pytorch"]["channels_last"]
        print(f"\nleantrain keep-all / PyTorch channels_last: "
              f"{keep['images_per_second'] / best['images_per_second']:.2f}x images/s, "
              f"{keep['peak_rss_bytes'] / best['peak_rss_bytes']:.2f}x peak RSS")
        if "budget" in results["leantrain"]:
            r = results["leantrain"]["budget"]
            print(f"leantrain {args.budget_fraction:.2f} P / PyTorch channels_last: "
                  f"{r['images_per_second'] / best['images_per_second']:.2f}x images/s, "
                  f"{r['peak_rss_bytes'] / best['peak_rss_bytes']:.2f}x peak RSS; / PyTorch "
                  f"checkpoint: {r['images_per_second'] / results['pytorch']['checkpoint']['images_per_second']:.2f}x "
                  f"images/s")
    for r in results["leantrain"].values():
        r.pop("stdout", None)
    with open(args.report, "w") as f:
        json.dump(results, f, indent=2)
    print(f"Report written to {args.report}")


if __name__ == "__main__":
    main()
