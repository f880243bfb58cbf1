#!/usr/bin/env python3
"""Fused cross-entropy loss + gradient and the backward passes: softmax_c
beside PyTorch and NumPy.

Run:  python bench/bench_loss.py [--quick] [--threads 1,2] [--ops xent,softmax_backward]

(bench/bench.py --ops cross_entropy measures the fused op inside the main
benchmark; this script adds the in-place variant, the backward passes, and
PyTorch with each thread count.)

For each workload (64x131072, 4096x1024 by default), dtype and thread count
it times, in interleaved rounds (see bench_timing.py), medians over the rounds:
  np.copyto            the same array (memory-bandwidth reference)
  xent:
    softmax_c          cross_entropy(x, t, grad_out=g)        (gradient buffer)
    softmax_c in place cross_entropy(x, t, grad_out=x)        (gradient over logits)
    torch fwd+bwd      F.cross_entropy(...).backward()         (when installed)
    numpy              the textbook passes: max, exp, sum, log, gradient
  softmax_backward / log_softmax_backward:
    softmax_c          softmax_backward(y, dy, out=o)
    torch              torch._softmax_backward_data / _log_softmax_backward_data
    numpy              y * (dy - sum(dy * y))  /  dy - exp(y) * sum(dy)
and prints a markdown table with each one's time, GB/s (2 * itemsize * n
bytes, as the main benchmark), fraction of copy speed and softmax_c's
speed-up over it.  Issue-4 targets (one thread, xent): >= 0.6 of copy
(float32), >= 0.4 (float64), >= 5x PyTorch fwd+bwd.
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


def xent_contestants(x, t, threads, torch):
    grad = np.empty_like(x)
    in_place = x.copy()
    out = [
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


def backward_contestants(op, x, threads, torch):
    rng = np.random.default_rng(1)
    dy = rng.standard_normal(x.shape).astype(x.dtype)
    if op == "softmax_backward":
        y = softmax_c.softmax(x)
        ours = softmax_c.softmax_backward
        numpy_fn = lambda: y * (dy - (dy * y).sum(axis=-1, keepdims=True))   # noqa: E731
    else:
        y = softmax_c.log_softmax(x)
        ours = softmax_c.log_softmax_backward
        numpy_fn = lambda: dy - np.exp(y) * dy.sum(axis=-1, keepdims=True)    # noqa: E731
    out_buf = np.empty_like(x)
    out = [
        Contestant(op, "softmax_c", "softmax_c", "out", threads,
                   lambda: ours(y, dy, out=out_buf, threads=threads)),
        Contestant(op, "numpy", "numpy", "alloc", None, numpy_fn),
    ]
    if torch is not None:
        yt, dyt = torch.from_numpy(y), torch.from_numpy(dy)
        fn = (torch._softmax_backward_data if op == "softmax_backward"
              else torch._log_softmax_backward_data)
        out.append(Contestant(op, "torch", "torch", "alloc", threads,
                              lambda: fn(dyt, yt, -1, yt.dtype),
                              prepare=lambda: torch.set_num_threads(threads)))
    return out


def contestants(op, x, t, threads, torch):
    copy_dst = np.empty_like(x)
    copy = Contestant(op, "np.copyto", "reference", "out", None, lambda: np.copyto(copy_dst, x))
    if op == "xent":
        return [copy] + xent_contestants(x, t, threads, torch)
    return [copy] + backward_contestants(op, x, threads, torch)


def run(ops, workloads, dtypes, thread_counts, min_time, repeats):
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
            for op in ops:
                for threads in thread_counts:
                    cs = contestants(op, x, t, threads, torch)
                    timing.wait_until_quiet(log)
                    log(f"{op} {name} {dtype} {threads}t: calibrating")
                    counts = [timing.calibrate(c, min_time) for c in cs]
                    samples = timing.sample_rounds(cs, counts, schedule=list(range(len(cs))),
                                                   min_rounds=repeats, max_rounds=2 * repeats,
                                                   watched=[0, 1])
                    medians = {c.name: timing.summarize(samples[i])["median_s"]
                               for i, c in enumerate(cs)}
                    rows_out.append((op, name, dtype, threads, x.nbytes * 2, medians))
    return rows_out


def report(results):
    info = softmax_c.cpu_info()
    print(f"\nLoss and backward passes, {info['cpu']} ({info['isa']}); medians; "
          "NumPy always runs on one thread\n")
    print("| op | workload | dtype | threads | contestant | ms | GB/s | x copy speed "
          "| softmax_c speed-up |")
    print("|---|---|---|---|---|---|---|---|---|")
    for op, name, dtype, threads, nbytes, med in results:
        ours = med["softmax_c"]
        for who, sec in med.items():
            print(f"| {op} | {name} | {dtype} | {threads} | {who} | {sec * 1e3:.2f} | "
                  f"{nbytes / sec / 1e9:.1f} | {med['np.copyto'] / sec:.2f} | "
                  f"{sec / ours:.2f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer repeats")
    p.add_argument("--threads", default=f"1,{os.cpu_count() or 1}",
                   help="comma-separated thread counts (default: 1 and all cores)")
    p.add_argument("--ops", default="xent,softmax_backward,log_softmax_backward")
    p.add_argument("--dtypes", default="float32,float64")
    p.add_argument("--workloads", default=",".join(WORKLOADS))
    args = p.parse_args(argv)
    thread_counts = sorted({int(v) for v in args.threads.split(",")})
    results = run(args.ops.split(","), args.workloads.split(","), args.dtypes.split(","),
                  thread_counts, min_time=0.05 if args.quick else 0.2,
                  repeats=5 if args.quick else 15)
    report(results)


if __name__ == "__main__":
    main()
