"""Contestants: one callable per (library, op, threads, out-or-allocating).

Every contestant's `run` takes no argument and does one complete call on the
prepared input; `prepare` (when set) runs before each timed sample, outside
the timed region (it sets PyTorch's thread count).
"""

from dataclasses import dataclass
from functools import partial
import importlib
from typing import Callable, Optional

import numpy as np

import bench_workloads as wl


@dataclass
class Contestant:
    op: str  # an op name, or "reference"
    name: str  # label in the tables and plot
    library: str  # "softmax_c", "numpy", "scipy", "torch" or "reference"
    mode: str  # "out" (output buffer given) or "alloc" (returns a new array)
    threads: Optional[int]  # None: the library does not thread (NumPy, SciPy)
    run: Callable[[], object]
    prepare: Optional[Callable[[], None]] = None


@dataclass
class Case:
    """One workload and dtype with its input arrays."""
    workload: wl.Workload
    dtype: str
    x: np.ndarray
    target: np.ndarray


def try_import(name):
    """Import an optional module; returns (module or None, reason if missing)."""
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # a broken install counts as missing, with its reason
        return None, f"{type(exc).__name__}: {exc}"


def thread_label(threads):
    return f"{threads}t"


# ---- references -------------------------------------------------------------

def reference_contestants(case):
    copy_dst = np.empty_like(case.x)
    exp_dst = np.empty_like(case.x)
    return [
        Contestant("reference", "np.copyto", "reference", "out", None,
                   partial(np.copyto, copy_dst, case.x)),
        Contestant("reference", "np.exp", "reference", "out", None,
                   partial(np.exp, case.x, out=exp_dst)),
    ]


# ---- softmax_c --------------------------------------------------------------

def softmax_c_has(module, op):
    return module is not None and hasattr(module, op)


def softmax_c_contestants(module, op, case, thread_counts):
    fn = getattr(module, op)
    x, axis = case.x, case.workload.axis
    if op == "cross_entropy":
        out = np.empty_like(x)
        call = partial(fn, x, case.target, axis=axis, return_grad=True)
        out_kw = "grad_out"
    else:
        shape = wl.reduced_shape(case.workload) if op == "logsumexp" else x.shape
        out = np.empty(shape, dtype=x.dtype)
        call = partial(fn, x, axis=axis)
        out_kw = "out"
    result = []
    for threads in thread_counts:
        label = thread_label(threads)
        result.append(Contestant(op, f"softmax_c out= {label}", "softmax_c", "out", threads,
                                 partial(call, threads=threads, **{out_kw: out})))
        result.append(Contestant(op, f"softmax_c alloc {label}", "softmax_c", "alloc", threads,
                                 partial(call, threads=threads)))
    return result


# ---- peers ------------------------------------------------------------------

def numpy_contestants(op, case):
    x, axis = case.x, case.workload.axis
    if op == "cross_entropy":
        run = partial(wl.numpy_cross_entropy, x, case.target, axis)
    else:
        run = partial(wl.NUMPY_OPS[op], x, axis)
    return [Contestant(op, "numpy", "numpy", "alloc", None, run)]


def scipy_contestants(special, op, case):
    if special is None or op == "cross_entropy":  # SciPy has no cross-entropy
        return []
    return [Contestant(op, "scipy", "scipy", "alloc", None,
                       partial(getattr(special, op), case.x, axis=case.workload.axis))]


def torch_contestants(torch, op, case, thread_counts):
    if torch is None:
        return []
    run = _torch_call(torch, op, case)
    return [Contestant(op, f"torch {thread_label(n)}", "torch", "alloc", n, run,
                       prepare=partial(torch.set_num_threads, n))
            for n in thread_counts]


def _torch_call(torch, op, case):
    tensor = torch.from_numpy(case.x)  # shares memory with the NumPy input
    axis = case.workload.axis
    if op == "softmax":
        return partial(torch.softmax, tensor, dim=axis)
    if op == "log_softmax":
        return partial(torch.log_softmax, tensor, dim=axis)
    if op == "logsumexp":
        return partial(torch.logsumexp, tensor, dim=axis)
    return partial(_torch_cross_entropy, torch, tensor.requires_grad_(True),
                   torch.from_numpy(case.target), axis)


def _torch_cross_entropy(torch, leaf, target, axis):
    """Forward and backward as a training step does it (autograd, mean loss)."""
    logits = leaf.movedim(axis, 1)  # PyTorch's class axis is dim 1
    loss = torch.nn.functional.cross_entropy(logits, target)
    (grad,) = torch.autograd.grad(loss, leaf)
    return loss, grad
