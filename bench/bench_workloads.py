"""Workloads of the benchmark: shapes, inputs, and the hand-written NumPy ops.

The NumPy functions serve twice: as the "numpy" contestant (written the way a
careful user would, one output allocation plus what the algorithm needs) and,
applied to a float64 copy of the input, as the reference that every softmax_c
result is checked against before it is timed.
"""

from dataclasses import dataclass
import math

import numpy as np

OPS = ("softmax", "log_softmax", "logsumexp", "cross_entropy")
DTYPES = ("float32", "float64")

# The sweep uses (TOTAL / L) x L, so every row length moves the same bytes.
TOTAL_ELEMENTS = 1 << 22  # 4,194,304
SWEEP_LENGTHS = tuple(128 << k for k in range(7))  # 128 ... 8192
QUICK_SWEEP_LENGTHS = ()  # quick: the main workloads only


@dataclass(frozen=True)
class Workload:
    name: str
    shape: tuple
    axis: int  # the reduced (class) axis
    group: str  # "main" (issue targets) or "sweep" (row-length sweep)

    @property
    def size(self):
        return math.prod(self.shape)

    @property
    def row_length(self):
        return self.shape[self.axis]

    @property
    def last_axis(self):
        return self.axis in (-1, len(self.shape) - 1)


MAIN_WORKLOADS = (
    Workload("65536x10", (65536, 10), -1, "main"),
    Workload("4096x1024", (4096, 1024), -1, "main"),
    Workload("64x131072", (64, 131072), -1, "main"),
    Workload("1x4194304", (1, TOTAL_ELEMENTS), -1, "main"),
    Workload("4096x1024 axis0", (4096, 1024), 0, "main"),
)


def sweep_workloads(lengths):
    """Row-length sweep; a shape already among the main workloads is not repeated."""
    main_shapes = {w.shape for w in MAIN_WORKLOADS if w.last_axis}
    result = []
    for length in lengths:
        shape = (TOTAL_ELEMENTS // length, length)
        if shape not in main_shapes:
            result.append(Workload(f"{shape[0]}x{shape[1]}", shape, -1, "sweep"))
    return result


def all_workloads(quick=False):
    lengths = QUICK_SWEEP_LENGTHS if quick else SWEEP_LENGTHS
    return list(MAIN_WORKLOADS) + sweep_workloads(lengths)


def make_inputs(workload, dtype, seed=0):
    """Logits-like data (normal, std 2) and integer class targets for cross-entropy."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(workload.shape, dtype=np.dtype(dtype)) * 2
    n_samples = workload.size // workload.row_length
    target = rng.integers(0, workload.row_length, size=n_samples, dtype=np.int64)
    return x, target


def reduced_shape(workload):
    return tuple(n for i, n in enumerate(workload.shape) if i != workload.axis % len(workload.shape))


# ---- hand-written NumPy ops -------------------------------------------------

def numpy_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    np.exp(shifted, out=shifted)
    shifted /= shifted.sum(axis=axis, keepdims=True)
    return shifted


def numpy_log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    sum_exp = np.exp(shifted).sum(axis=axis, keepdims=True)
    shifted -= np.log(sum_exp)
    return shifted


def numpy_logsumexp(x, axis):
    top = x.max(axis=axis, keepdims=True)
    sum_exp = np.exp(x - top).sum(axis=axis, keepdims=True)
    return np.squeeze(np.log(sum_exp) + top, axis=axis)


def numpy_cross_entropy(x, target, axis):
    """Mean cross-entropy of 2-D logits and its gradient: returns (loss, grad)."""
    logits = np.moveaxis(x, axis, -1)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    probs = np.exp(shifted)
    sum_exp = probs.sum(axis=-1, keepdims=True)
    rows = np.arange(logits.shape[0])
    loss = np.mean(np.log(sum_exp[:, 0]) - shifted[rows, target])
    probs /= sum_exp
    probs[rows, target] -= 1
    probs /= len(rows)
    return loss, np.moveaxis(probs, -1, axis)


NUMPY_OPS = {
    "softmax": numpy_softmax,
    "log_softmax": numpy_log_softmax,
    "logsumexp": numpy_logsumexp,
}


def reference_result(op, x, target, axis):
    """The float64 result that softmax_c must match (computed from a float64 copy)."""
    x64 = x.astype(np.float64)
    if op == "cross_entropy":
        return numpy_cross_entropy(x64, target, axis)
    return NUMPY_OPS[op](x64, axis)


# Relative tolerance of the correctness guard. It catches wrong results, not
# last-ulp differences (the test suite checks accuracy).
RTOL = {"float32": 1e-5, "float64": 1e-12}


def compare(op, result, reference, dtype):
    """Check a softmax_c result; returns (ok, max_abs_err, message)."""
    rtol = RTOL[dtype]
    if op == "cross_entropy":
        if not (isinstance(result, tuple) and len(result) == 2):
            return False, None, "expected (loss, grad)"
        loss_ok, loss_err, _ = _compare_arrays(result[0], reference[0], rtol, rtol * abs(reference[0]))
        grad_ref = reference[1]
        grad_ok, grad_err, msg = _compare_arrays(result[1], grad_ref, rtol, rtol * np.abs(grad_ref).max())
        if not loss_ok:
            return False, loss_err, f"loss {float(np.asarray(result[0]))!r} != {float(reference[0])!r}"
        return grad_ok, grad_err, msg
    # Softmax values are checked relative to each element (they never
    # underflow with these inputs); log-space values can be near 0 after
    # cancellation, so they get an absolute tolerance scaled to the row values.
    scale = float(np.abs(reference).max())
    atol = rtol * scale * (1e-6 if op == "softmax" else 1.0)
    return _compare_arrays(result, reference, rtol, atol)


def _compare_arrays(result, reference, rtol, atol):
    result = np.asarray(result)
    if result.shape != np.shape(reference):
        return False, None, f"shape {result.shape} != {np.shape(reference)}"
    err = np.abs(result.astype(np.float64) - reference)
    max_err = float(np.nanmax(err)) if err.size and not np.isnan(err).all() else float("nan")
    ok = bool(np.all(err <= atol + rtol * np.abs(reference)))  # NaN compares False
    return ok, max_err, "" if ok else f"max abs error {max_err:.3g} (rtol {rtol:g}, atol {atol:.3g})"
