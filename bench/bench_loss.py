#!/usr/bin/env python3
"""Fused cross-entropy loss + gradient: softmax_c beside PyTorch and NumPy.

Run:  python bench/bench_loss.py [--quick] [--threads 1]

(bench/bench.py --ops cross_entropy measures the same op inside the main
benchmark; this script adds the in-place variant and is quicker.)

For each workload (64x131072, 4096x1024 by default) and dtype it times, in
interleaved rounds (see bench_timing.py):
  np.copyto            the same array (memory-bandwidth reference)
  softmax_c            cross_entropy(x, t, grad_out=g)       (gradient buffer)
  softmax_c in place   cross_entropy(x, t, grad_out=x)       (gradient over logits)
  torch fwd+bwd        F.cross_entropy(...).backward()        (when installed)
  numpy                the textbook passes: max, exp, sum, log, gradient
and prints a markdown table with each one's time, GB/s (2 * itemsize * n
bytes, as the main benchmark), fraction of copy speed and softmax_c's
speed-up over it.  Issue-4 targets (one thread): >= 0.6 of copy (float32),
>= 0.4 (float64), >= 5x PyTorch fwd+bwd.
"""

import argparse
import os
import sys

import numpy as np

import bench_timing as timing
from bench_contestants import Contestant, try_import

try:
    import softmax_c
except ImportError:     # not installed: use the in-place build of this checkout
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    import softmax_c

WORKLOADS = {"64x131072": (64, 131072), "4096x1024": (4096, 1024)}


def log(message):
    print(message, file=sys.stderr, flush=True)


def numpy_cross_entropy(x, t):
    """Mean loss and its gradient the way one writes it in NumPy."""
    rows = np.arange(x.shape[0])
    m = x.max(axis=1, keepdims=True)
    e = np.exp(x - m)
    s = e.sum(axis=1, keepdims=True)
    loss = np.mean(np.log(s[:, 0]) + m[:, 0] - x[rows, t])
    grad = e / s
    grad[rows, t] -= 1
    grad /= x.shape[0]
    return loss, grad


def contestants(x, t, threads, torch):
    grad = np.empty_like(x)
    in_place = x.copy()
    copy_dst = np.empty_like(x)
    out = [
        Contestant("xent", "np.copyto", "reference", "out", None,
                   lambda: np.copyto(copy_dst, x)),
        Contestant("xent", "softmax_c", "softmax_c", "out", threads,
                   lambda: softmax_c.cross_entropy(x, t, grad_out=grad, threads=threads)),
        Contestant("xent", "softmax_c in place", "softmax_c", "out", threads,
                   lambda: softmax_c.cross_entropy(in_place, t, grad_out=in_place,
                                                   threads=threads)),
        Contestant("xent", "numpy", "numpy", "alloc", None, lambda: numpy_cross_entropy(x, t)),
    ]
    if torch is not None:
        xt = torch.from_numpy(x)
        tt = torch.from_numpy(t)

        def torch_fwd_bwd():
            leaf = xt.detach().requires_grad_()
            torch.nn.functional.cross_entropy(leaf, tt).backward()
            return leaf.grad

        out.append(Contestant("xent", "torch fwd+bwd", "torch", "alloc", threads,
                              torch_fwd_bwd, prepare=lambda: torch.set_num_threads(threads)))
    return out


def run(workloads, dtypes, threads, min_time, repeats):
    torch, why = try_import("torch")
    if torch is None:
        log(f"torch not available ({why}); timing without it")
    rng = np.random.default_rng(0)
    rows_out = []
    for name in workloads:
        rows, n = WORKLOADS[name]
        for dtype in dtypes:
            x = (rng.standard_normal((rows, n)) * 3).astype(dtype)
            t = rng.integers(0, n, rows)
            cs = contestants(x, t, threads, torch)
            timing.wait_until_quiet(log)
            log(f"{name} {dtype}: calibrating")
            counts = [timing.calibrate(c, min_time) for c in cs]
            samples = timing.sample_rounds(cs, counts, schedule=list(range(len(cs))),
                                           min_rounds=repeats, max_rounds=2 * repeats,
                                           watched=[0, 1, 2])
            medians = {c.name: timing.summarize(samples[i])["median_s"]
                       for i, c in enumerate(cs)}
            rows_out.append((name, dtype, x.nbytes * 2, medians))
    return rows_out


def report(results, threads):
    print(f"\nCross-entropy loss + gradient, {threads} thread(s), "
          f"{softmax_c.cpu_info()['cpu']} ({softmax_c.cpu_info()['isa']})\n")
    print("| workload | dtype | contestant | ms | GB/s | x copy speed | softmax_c speed-up |")
    print("|---|---|---|---|---|---|---|")
    for name, dtype, nbytes, med in results:
        ours = med["softmax_c"]
        for who, sec in med.items():
            print(f"| {name} | {dtype} | {who} | {sec * 1e3:.2f} | {nbytes / sec / 1e9:.1f} | "
                  f"{med['np.copyto'] / sec:.2f} | {sec / ours:.2f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    args = p.parse_args(argv)
    results = run(args.workloads.split(","), args.dtypes.split(","), args.threads,
                  min_time=0.05 if args.quick else 0.2, repeats=5 if args.quick else 15)
    report(results, args.threads)


if __name__ == "__main__":
    main()
