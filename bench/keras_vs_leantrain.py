#!/usr/bin/env python3
"""Real Keras against `from leantrain import keras`, side by side: the same training script
text, differing only in its import line, each run in a fresh process with the same threads.

Workloads (the scripts in bench/keras_scripts/, runnable as they are with real Keras):
  cnn           keras.io's "Simple MNIST convnet" on Fashion-MNIST (Debian's files): batch 128,
                Adam, categorical cross-entropy, --epochs (3), validation_split 0.1, then
                evaluate on the 10,000 test images.
  mobilenet_v2  keras.applications.MobileNetV2(weights=None), 224x224x3, 1000 classes, batch 32,
                SGD (momentum 0.9, learning rate 0.01), sparse categorical cross-entropy,
                --steps (20) steps of fit() over one seeded random array of 32 * steps images.

Runs per workload, one after the other, each in its own process, OMP_NUM_THREADS=--threads:
  leantrain        the script with `from leantrain import keras`
  keras            real Keras 3 on TensorFlow (KERAS_BACKEND=tensorflow, CUDA_VISIBLE_DEVICES=""),
                   tf.config.threading intra-op --threads, inter-op 1; compile(jit_compile=
                   "auto"), which Keras resolves to False on a CPU-only machine
  keras_xla        the same with compile(jit_compile=True) (--skip-keras-xla)
  keras_bf16       the same with keras.mixed_precision.set_global_policy("mixed_bfloat16")
                   (--skip-bf16); a peer column only: leantrain has no bf16 compute

Figures per run: training images/s over the steady span (epochs 2.. when there are two or more,
otherwise every step but the first, where TensorFlow traces and compiles), images/s over every
step, the first step's seconds, the process's wall time, its peak RSS (ru_maxrss from wait4,
and the VmHWM it reads itself) and the resident set before the model is built (the data is in
memory by then); for cnn the test accuracy. Ratios are leantrain's images/s and peak RSS
divided by each Keras run's.

Usage: bench/run-keras-vs-leantrain [--no-build] [--epochs 3] [--steps 20] [--threads 2]
       [--only cnn|mobilenet_v2] [--skip-keras-xla] [--skip-bf16] [--report FILE]
Smoke-sized: --train-subset 2000 --epochs 1 --steps 3 --image-size 96.
Run with the project's venv (scripts/setup-python); bench/run-keras-vs-leantrain installs the
package into it first (pip install ., unless --no-build) and runs this with its python.
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(ROOT, "bench", "keras_scripts")
KERAS_IMPORT = "import keras"
LEANTRAIN_IMPORT = "from leantrain import keras"
CPU_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_tile", "amx_bf16", "amx_int8")
MIB = 2.0**20

# (run name, the script's form, its extra options, its label in the table)
RUNS = [("leantrain", "leantrain", [], "leantrain"),
        ("keras", "keras", [], "Keras (TensorFlow)"),
        ("keras_xla", "keras", ["--jit-compile"], "Keras, jit_compile=True (XLA)"),
        ("keras_bf16", "keras", ["--mixed-bfloat16"], "Keras, mixed_bfloat16 [peer]")]


def cpu_info():
    """The CPU's model name, logical CPUs and the flags that decide the kernels (from
    /proc/cpuinfo)."""
    model, flags, count = "?", set(), 0
    with open("/proc/cpuinfo") as f:
        for line in f:
            key, _, value = line.partition(":")
            key = key.strip()
            if key == "processor":
                count += 1
            elif key == "model name" and model == "?":
                model = value.strip()
            elif key == "flags" and not flags:
                flags = set(value.split())
    return {"model_name": model, "logical_cpus": count,
            "flags": {flag: flag in flags for flag in CPU_FLAGS}}


def busy_cpus(seconds=1.0):
    """How many CPUs other processes kept busy over the last `seconds` (from /proc/stat's
    idle and iowait ticks), sampled while this process sleeps."""
    def ticks():
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        return sum(values), values[3] + values[4]
    total0, idle0 = ticks()
    time.sleep(seconds)
    total1, idle1 = ticks()
    return os.cpu_count() * (1.0 - (idle1 - idle0) / max(total1 - total0, 1))


def git_state():
    def git(*args):
        out = subprocess.run(["git", "-C", ROOT, *args], capture_output=True, text=True)
        return out.stdout.strip() if out.returncode == 0 else None
    status = git("status", "--porcelain")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def write_forms(workload, run_dir):
    """Writes the workload's script in its two forms to run_dir; returns {form: path}.

    Raises SystemExit unless the script has exactly one `import keras` line and the forms
    differ in that line only."""
    with open(os.path.join(SCRIPTS, f"{workload}.py")) as f:
        keras_lines = f.read().splitlines(keepends=True)
    at = [i for i, line in enumerate(keras_lines) if line.rstrip("\n") == KERAS_IMPORT]
    if len(at) != 1:
        sys.exit(f"bench/keras_scripts/{workload}.py: needs exactly one `{KERAS_IMPORT}` line, "
                 f"has {len(at)}")
    leantrain_lines = list(keras_lines)
    leantrain_lines[at[0]] = LEANTRAIN_IMPORT + "\n"
    differ = [i for i, (a, b) in enumerate(zip(keras_lines, leantrain_lines)) if a != b]
    assert differ == at and len(keras_lines) == len(leantrain_lines)
    paths = {}
    for form, lines in (("keras", keras_lines), ("leantrain", leantrain_lines)):
        paths[form] = os.path.join(run_dir, f"{form}_{workload}.py")
        with open(paths[form], "w") as f:
            f.writelines(lines)
    return paths


def child_env(form, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    path = [SCRIPTS]
    if form == "leantrain":
        if args.pythonpath:
            path.append(args.pythonpath)
    else:
        env.update(KERAS_BACKEND="tensorflow", CUDA_VISIBLE_DEVICES="")
    env["PYTHONPATH"] = os.pathsep.join(path)
    return env


def run_child(name, script, form, options, args, run_dir):
    """Runs one script form in a fresh process; returns its report plus what the parent saw
    (wall seconds, ru_maxrss from wait4, the log's path), or a failure record."""
    report = os.path.join(run_dir, f"{name}.json")
    log = os.path.join(run_dir, f"{name}.log")
    cmd = [sys.executable, script, "--report", report, "--threads", str(args.threads), *options]
    env = child_env(form, args)
    if os.path.exists(report):  # a previous run's, in a reused --run-dir
        os.remove(report)
    print(f"+ {' '.join(f'{k}={env[k]!r}' for k in ('OMP_NUM_THREADS', 'PYTHONPATH'))}"
          f"{' KERAS_BACKEND=tensorflow CUDA_VISIBLE_DEVICES=' if form == 'keras' else ''} "
          f"{' '.join(cmd)}  > {log}", flush=True)
    busy_before = busy_cpus()
    if busy_before > 0.25:
        print(f"  note: other processes kept {busy_before:.2f} CPUs busy just before this run",
              flush=True)
    start = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=run_dir)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    seen = {"command": cmd, "log": log, "wall_seconds": wall, "exit_code": code,
            "ru_maxrss_bytes": usage.ru_maxrss * 1024, "busy_cpus_before": busy_before}
    if code != 0 or not os.path.exists(report):
        with open(log, errors="replace") as f:
            lines = [line.rstrip() for line in f if line.strip()]
        error = lines[-1] if lines else "(no output)"
        print(f"  {name} failed (exit {code}): {error}\n  last lines of {log}:\n    " +
              "\n    ".join(lines[-12:]), flush=True)
        if form == "leantrain" and ("No module named 'leantrain'" in error or "_core" in error):
            print("  hint: install the package into the venv (bench/run-keras-vs-leantrain does: "
                  "pip install --no-build-isolation .) or pass --pythonpath DIR", flush=True)
        return {"failed": True, "error": error, **seen}
    with open(report) as f:
        result = json.load(f)
    result.update(seen)
    print(f"  {result['images_per_second']:.1f} images/s, peak RSS "
          f"{result['ru_maxrss_bytes'] / MIB:.1f} MiB, {wall:.1f} s", flush=True)
    return result


def workload_options(workload, args):
    if workload == "cnn":
        return ["--epochs", str(args.epochs), "--train-subset", str(args.train_subset)]
    return ["--steps", str(args.steps), "--image-size", str(args.image_size)]


def title(workload, args):
    if workload == "cnn":
        images = args.train_subset or 60000
        return (f"Fashion-MNIST CNN (keras.io simple MNIST convnet): {int(images * 0.9):,} "
                f"training images, batch 128, Adam, {args.epochs} epoch(s), validation_split "
                f"0.1, {args.threads} threads")
    return (f"MobileNetV2 {args.image_size}x{args.image_size}x3, 1000 classes, batch 32, SGD "
            f"momentum 0.9, {args.steps} steps (random data), {args.threads} threads")


def print_table(workload, runs, ratios, args):
    print(f"\n{title(workload, args)}")
    accuracy = workload == "cnn"
    head = (f"{'run':<32}{'images/s':>10}{'all steps':>11}{'1st step s':>11}{'wall s':>8}"
            f"{'peak RSS':>10}{'pre-model':>10}" + (f"{'test acc':>9}" if accuracy else "") +
            f"{'lt÷ img/s':>11}{'lt÷ RSS':>9}")
    print(head)
    print(" " * 62 + "MiB       MiB")
    for name, _, _, label in RUNS:
        r = runs.get(name)
        if r is None:
            continue
        if r.get("failed"):
            print(f"{label:<32}  failed: {r['error'][:100]}")
            continue
        row = (f"{label:<32}{r['images_per_second']:>10.1f}{r['images_per_second_all']:>11.1f}"
               f"{r['first_step_seconds']:>11.2f}{r['wall_seconds']:>8.1f}"
               f"{r['ru_maxrss_bytes'] / MIB:>10.1f}{r['rss_before_model_bytes'] / MIB:>10.1f}")
        if accuracy:
            row += f"{r['test_accuracy']:>9.4f}"
        if name in ratios:
            row += (f"{ratios[name]['images_per_second']:>10.2f}x"
                    f"{ratios[name]['peak_rss']:>8.2f}x")
        print(row)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=3, help="cnn: epochs (default 3)")
    ap.add_argument("--steps", type=int, default=20,
                    help="mobilenet_v2: training steps of batch 32, the first untimed (default 20)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--only", choices=["cnn", "mobilenet_v2"])
    ap.add_argument("--skip-keras-xla", action="store_true",
                    help="leave out real Keras with compile(jit_compile=True)")
    ap.add_argument("--skip-bf16", action="store_true",
                    help='leave out real Keras with the "mixed_bfloat16" policy')
    ap.add_argument("--train-subset", type=int, default=0,
                    help="cnn, smoke runs: train on the first N of the 60,000 training images "
                         "(0: all)")
    ap.add_argument("--image-size", type=int, default=224,
                    help="mobilenet_v2, smoke runs: square input size (default 224)")
    ap.add_argument("--pythonpath", default="",
                    help="a directory holding the leantrain package with its built extension, "
                         "for the leantrain process (default: the package installed in the venv)")
    ap.add_argument("--run-dir", default="",
                    help="where the two script forms, the logs and each process's report go "
                         "(default: a new temporary directory)")
    ap.add_argument("--report", default=os.path.join(ROOT, "build", "keras_vs_leantrain.json"))
    args = ap.parse_args()
    if args.epochs < 1 or args.steps < 2 or args.threads < 1:
        ap.error("--epochs must be >= 1, --steps >= 2 (the first is not timed), --threads >= 1")
    if args.train_subset and args.train_subset < 200:
        ap.error("--train-subset must be 0 (all) or at least 200")

    run_dir = args.run_dir or tempfile.mkdtemp(prefix="leantrain-keras-bench-")
    os.makedirs(run_dir, exist_ok=True)
    cpu = cpu_info()
    flags = ", ".join(f"{flag} {'yes' if on else 'no'}" for flag, on in cpu["flags"].items())
    print(f"CPU: {cpu['model_name']}, {cpu['logical_cpus']} logical CPUs; {flags}")
    busy = busy_cpus()
    print(f"{busy:.2f} CPUs busy with other processes; run directory {run_dir}")
    if busy > 0.25:
        print("note: the cores are shared; the figures will be upper bounds")

    results = {"date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
               "command": sys.argv, "python": sys.executable, "cpu": cpu, "git": git_state(),
               "settings": {k: v for k, v in vars(args).items() if k != "report"},
               "busy_cpus_before": busy, "workloads": {}}
    failed_core = False
    for workload in (args.only,) if args.only else ("cnn", "mobilenet_v2"):
        forms = write_forms(workload, run_dir)
        runs, ratios = {}, {}
        for name, form, extra, _ in RUNS:
            if (name == "keras_xla" and args.skip_keras_xla) or \
                    (name == "keras_bf16" and args.skip_bf16):
                continue
            runs[name] = run_child(f"{workload}-{name}", forms[form], form,
                                   workload_options(workload, args) + extra, args, run_dir)
        lt = runs["leantrain"]
        for name, r in runs.items():
            if name != "leantrain" and not r.get("failed") and not lt.get("failed"):
                ratios[name] = {
                    "images_per_second": lt["images_per_second"] / r["images_per_second"],
                    "peak_rss": lt["ru_maxrss_bytes"] / r["ru_maxrss_bytes"]}
        failed_core |= bool(lt.get("failed") or runs["keras"].get("failed"))
        results["workloads"][workload] = {"title": title(workload, args), "scripts": forms,
                                          "runs": runs, "ratios_leantrain_over": ratios}
        print_table(workload, runs, ratios, args)

    busy = busy_cpus()
    results["busy_cpus_after"] = busy
    print(f"\nCPU: {cpu['model_name']}, {cpu['logical_cpus']} logical CPUs; {flags}")
    print(f"images/s: training steps only (validation and evaluation excluded), over epochs 2.. "
          f"when there are two or more, else steps 2..; peak RSS: ru_maxrss of each process "
          f"(wait4); pre-model: its resident set once the data is loaded; lt÷: leantrain's "
          f"figure divided by that run's. {busy:.2f} CPUs busy with other processes now.")
    os.makedirs(os.path.dirname(os.path.abspath(args.report)), exist_ok=True)
    with open(args.report, "w") as f:
        json.dump(results, f, indent=2)
    print(f"Report written to {args.report}")
    return 1 if failed_core else 0


if __name__ == "__main__":
    sys.exit(main())
