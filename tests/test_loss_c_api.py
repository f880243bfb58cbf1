"""The C entry points of cross-entropy and the backward passes, called
directly (ctypes on the extension module, which exports the C API): the
documented argument checks, error codes and out-parameters that the Python
layer never exercises because it validates first."""

import ctypes

import numpy as np
import pytest

import softmax_c
from softmax_c import _core

SMC_OK, SMC_ERR_NULL, SMC_ERR_SIZE, SMC_ERR_VALUE, SMC_ERR_LABEL = 0, -1, -2, -3, -4
NONE, MEAN, SUM = 0, 1, 2
MAX_DIMS = 64


class Grid(ctypes.Structure):
    _fields_ = [("n", ctypes.c_int64), ("ndim", ctypes.c_int32),
                ("shape", ctypes.c_int64 * MAX_DIMS)]


class Array(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("step", ctypes.c_int64),
                ("strides", ctypes.c_int64 * MAX_DIMS)]


try:    # the extension exports the C API on ELF/Mach-O; a Windows .pyd does not
    LIB = ctypes.CDLL(_core.__file__)
    LIB.smc_cross_entropy_nd_f64
except (OSError, AttributeError) as exc:
    pytest.skip(f"C entry points not reachable through ctypes: {exc}", allow_module_level=True)
P = ctypes.POINTER
for _name in ("smc_cross_entropy_nd_f32", "smc_cross_entropy_nd_f64"):
    getattr(LIB, _name).argtypes = [P(Grid), P(Array), P(Array), P(Array), ctypes.c_void_p,
                                    ctypes.c_int64, ctypes.c_double, ctypes.c_int, P(Array),
                                    P(Array), P(ctypes.c_double), P(ctypes.c_int64),
                                    ctypes.c_int]
for _name in ("smc_softmax_backward_nd_f64", "smc_log_softmax_backward_nd_f64"):
    getattr(LIB, _name).argtypes = [P(Grid), P(Array), P(Array), P(Array), ctypes.c_int]


def grid_of(rows, n):
    g = Grid(n=n, ndim=1)
    g.shape[0] = rows
    return g


def rows_of(a):
    """A 2-d C-contiguous array as rows (last axis) of a 1-d grid."""
    arr = Array(data=a.ctypes.data, step=a.strides[1])
    arr.strides[0] = a.strides[0]
    return arr


def per_row(a):
    arr = Array(data=a.ctypes.data, step=0)
    arr.strides[0] = a.strides[0]
    return arr


def call(x, labels=None, probs=None, weight=None, ignore_index=-100, smoothing=0.0,
         reduction=MEAN, grad=None, loss=None, threads=0, grid=None):
    total, bad = ctypes.c_double(-1.0), ctypes.c_int64(-1)
    fn = LIB.smc_cross_entropy_nd_f64 if x.dtype == np.float64 else LIB.smc_cross_entropy_nd_f32
    rc = fn(ctypes.byref(grid or grid_of(*x.shape)), ctypes.byref(rows_of(x)),
            ctypes.byref(per_row(labels)) if labels is not None else None,
            ctypes.byref(rows_of(probs)) if probs is not None else None,
            weight.ctypes.data if weight is not None else None, ignore_index, smoothing,
            reduction, ctypes.byref(rows_of(grad)) if grad is not None else None,
            ctypes.byref(per_row(loss)) if loss is not None else None,
            ctypes.byref(total), ctypes.byref(bad), threads)
    return rc, total.value, bad.value


@pytest.fixture
def case():
    rng = np.random.default_rng(7)
    return rng.standard_normal((5, 4)), np.array([0, 3, 1, 2, 2], dtype=np.int64)


def test_matches_the_python_api(case):
    x, t = case
    grad, loss = np.empty_like(x), np.empty(5)
    rc, total, _ = call(x, t, grad=grad, loss=loss, reduction=SUM, smoothing=0.1)
    assert rc == SMC_OK
    want_loss, want_grad = softmax_c.cross_entropy(x, t, reduction="sum", label_smoothing=0.1,
                                                   return_grad=True)
    assert total == want_loss
    np.testing.assert_array_equal(grad, want_grad)
    np.testing.assert_array_equal(loss, softmax_c.cross_entropy(x, t, reduction="none",
                                                                label_smoothing=0.1))


def test_no_gradient_array_means_no_gradient(case):
    x, t = case
    rc, total, _ = call(x, t)
    assert rc == SMC_OK and total == softmax_c.cross_entropy(x, t)


def test_none_reduction_total_is_the_sum(case):
    x, t = case
    rc, total, _ = call(x, t, reduction=NONE)
    assert rc == SMC_OK
    assert total == pytest.approx(float(np.sum(softmax_c.cross_entropy(x, t, reduction="none"))),
                                  rel=1e-15)


def test_bad_label_reports_first_row_and_writes_nothing(case):
    x, t = case
    t = t.copy()
    t[2], t[4] = 9, -5
    grad, loss = np.full_like(x, 7.0), np.full(5, 7.0)
    rc, total, bad = call(x, t, grad=grad, loss=loss)
    assert (rc, bad) == (SMC_ERR_LABEL, 2)
    assert np.all(grad == 7.0) and np.all(loss == 7.0) and total == -1.0


def test_argument_errors(case):
    x, t = case
    q = np.full_like(x, 0.25)
    assert call(x)[0] == SMC_ERR_NULL                       # neither labels nor probs
    assert call(x, t, probs=q)[0] == SMC_ERR_NULL           # both
    assert call(x, t, reduction=3)[0] == SMC_ERR_VALUE
    assert call(x, t, reduction=-1)[0] == SMC_ERR_VALUE
    assert call(x, t, smoothing=1.5)[0] == SMC_ERR_VALUE
    assert call(x, t, smoothing=float("nan"))[0] == SMC_ERR_VALUE
    assert call(x, t, threads=-1)[0] == SMC_ERR_VALUE
    assert call(x, t, grid=grid_of(5, -1))[0] == SMC_ERR_SIZE
    assert call(x, t, grid=grid_of(5, 0))[0] == SMC_ERR_SIZE  # no classes
    g = grid_of(5, 4)
    g.ndim = MAX_DIMS + 1
    assert call(x, t, grid=g)[0] == SMC_ERR_SIZE


def test_empty_batch_gives_nan_mean_and_zero_sum(case):
    x, t = case
    assert np.isnan(call(x, t, grid=grid_of(0, 4))[1])
    assert call(x, t, grid=grid_of(0, 4), reduction=SUM)[1] == 0.0


def test_float32_entry_point(case):
    x, t = case
    x32 = x.astype(np.float32)
    w = np.linspace(0.5, 2.0, 4).astype(np.float32)
    grad = np.empty_like(x32)
    rc, total, _ = call(x32, t, weight=w, grad=grad)
    want, want_grad = softmax_c.cross_entropy(x32, t, weight=w, return_grad=True)
    assert rc == SMC_OK and np.float32(total) == want
    np.testing.assert_array_equal(grad, want_grad)


@pytest.mark.parametrize("name", ["smc_softmax_backward_nd_f64", "smc_log_softmax_backward_nd_f64"])
def test_backward_entry_points(name):
    y = np.full((3, 4), 0.25)
    dy = np.arange(12.0).reshape(3, 4)
    out = np.empty_like(y)
    fn = getattr(LIB, name)
    g = grid_of(3, 4)
    ok = fn(ctypes.byref(g), ctypes.byref(rows_of(y)), ctypes.byref(rows_of(dy)),
            ctypes.byref(rows_of(out)), 0)
    assert ok == SMC_OK
    py = softmax_c.softmax_backward if "log" not in name else softmax_c.log_softmax_backward
    np.testing.assert_array_equal(out, py(y, dy))
    assert fn(ctypes.byref(g), None, ctypes.byref(rows_of(dy)), ctypes.byref(rows_of(out)),
              0) == SMC_ERR_NULL
    assert fn(ctypes.byref(g), ctypes.byref(rows_of(y)), ctypes.byref(rows_of(dy)),
              ctypes.byref(rows_of(out)), -1) == SMC_ERR_VALUE
    assert fn(ctypes.byref(grid_of(-1, 4)), ctypes.byref(rows_of(y)), ctypes.byref(rows_of(dy)),
              ctypes.byref(rows_of(out)), 0) == SMC_ERR_SIZE
