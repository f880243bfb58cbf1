"""softmax_backward and log_softmax_backward: values against a longdouble
twin (always) and PyTorch autograd (when installed), finite differences,
identities, axes, layouts, out= and aliasing, special values, threads and
bad input."""

import numpy as np
import pytest

import loss_reference as ref
import ulp

OPS = ("softmax_backward", "log_softmax_backward")
DTYPES = (np.float32, np.float64)

# Issue 7: <= 8 ulp where the result is not a difference of nearly equal
# numbers.  Measured as |got - want| in ulp of the size of the terms:
#   softmax:      y_k * (|dy_k| + sum_j |dy_j * y_j|)
#   log_softmax:  |dy_k| + exp(y_k) * sum_j |dy_j|
# (the row sum is accumulated in T within blocks of <= 8 additions per lane,
# then in double; the final subtraction and product round once each).
BACKWARD_ULP = 8


def forward_pair(sc, rng, op, shape, dtype, axis=-1, scale=3.0):
    """(y, dy): a forward output of the op and a random upstream gradient."""
    x = rng.standard_normal(shape) * scale
    fwd = sc.softmax if op == "softmax_backward" else sc.log_softmax
    return fwd(x.astype(dtype), axis=axis), rng.standard_normal(shape).astype(dtype)


def term_scale(op, y, dy, axis):
    y, dy = np.asarray(y, np.longdouble), np.asarray(dy, np.longdouble)
    if op == "softmax_backward":
        return y * (np.abs(dy) + np.sum(np.abs(dy * y), axis=axis, keepdims=True))
    return np.abs(dy) + np.exp(y) * np.sum(np.abs(dy), axis=axis, keepdims=True)


def assert_backward_close(op, got, y, dy, axis=-1):
    want = getattr(ref, op)(y, dy, axis=axis)
    scale = term_scale(op, y, dy, axis)
    dtype = got.dtype
    unit = np.abs(np.spacing(scale.astype(np.float64).astype(dtype))).astype(np.longdouble)
    err = (np.abs(np.asarray(got, np.longdouble) - want) / unit).astype(np.float64)
    worst = float(err.max(initial=0))
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.size else ()
    assert worst <= BACKWARD_ULP, (f"{op}: {worst:.3g} ulp at {idx}: got {got[idx]!r}, "
                                   f"want {want[idx]!r}")
    ulp.record(op[:-9] + "_bwd", dtype, "terms", worst)


# ---- values --------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(6, 37), (3, 300), (1, 7), (2, 40000)])
def test_values_match_reference(sc, isa, rng, op, dtype, shape):
    y, dy = forward_pair(sc, rng, op, shape, dtype)
    got = getattr(sc, op)(y, dy)
    assert got.dtype == dtype and got.shape == y.shape
    assert_backward_close(op, got, y, dy)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, 2, -1, None, (0, 2)])
def test_every_axis(sc, isa, rng, op, dtype, axis):
    y, dy = forward_pair(sc, rng, op, (5, 6, 7), dtype, axis=axis)
    got = getattr(sc, op)(y, dy, axis)
    assert_backward_close(op, got, y, dy, axis=axis)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_rows_of_the_gradient_sum_to_zero(sc, isa, rng, op, dtype):
    """Both Jacobians have rows summing to zero: sum_k dx_k = 0."""
    y, dy = forward_pair(sc, rng, op, (40, 500), dtype)
    dx = getattr(sc, op)(y, dy).astype(np.float64)
    scale = term_scale(op, y, dy, -1).astype(np.float64).sum(axis=1)
    # each entry within 8 ulp of its term size (above), summed exactly
    assert np.all(np.abs(dx.sum(axis=1)) <= 8 * np.finfo(dtype).eps * scale)


@pytest.mark.parametrize("op", OPS)
def test_matches_central_differences(sc, rng, op):
    x = rng.standard_normal((3, 8)) * 2
    dy = rng.standard_normal((3, 8))
    fwd = sc.softmax if op == "softmax_backward" else sc.log_softmax

    def f(z):
        return float(np.sum(dy * fwd(z)))

    got = getattr(sc, op)(fwd(x), dy)
    h = 1e-6
    numeric = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += h
        down[idx] -= h
        numeric[idx] = (f(up) - f(down)) / (2 * h)
    # truncation O(h^2) ~ 1e-12, rounding ~ eps * |f| / h ~ 1e-10
    np.testing.assert_allclose(got, numeric, rtol=1e-7, atol=1e-8)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dim", [0, 1, 2])
def test_matches_torch_autograd(sc, rng, op, dim):
    torch = pytest.importorskip("torch")
    x = torch.tensor(rng.standard_normal((4, 5, 6)) * 3, requires_grad=True)
    dy = rng.standard_normal((4, 5, 6))
    fwd = torch.softmax if op == "softmax_backward" else torch.log_softmax
    y = fwd(x, dim)
    y.backward(torch.tensor(dy))
    got = getattr(sc, op)(y.detach().numpy(), dy, dim)
    want = x.grad.numpy()
    # float64 both: a few roundings each, entries may be differences
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14 * np.abs(want).max())


# ---- layouts and out= --------------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs_and_out(sc, isa, rng, op, dtype):
    fwd = sc.softmax if op == "softmax_backward" else sc.log_softmax
    x = rng.standard_normal((12, 9, 80)) * 3
    y = fwd(x[::2, ::3, 3:]).astype(dtype)          # (6, 3, 77) rows of a forward output
    y_view = np.empty((6, 3, 154), dtype=dtype)[:, :, ::2]
    y_view[...] = y
    dy = rng.standard_normal((12, 9, 80)).astype(dtype)[::-2, ::3, :77]
    out_base = np.full((6, 3, 3 * 77), -5.0, dtype=dtype)
    out = out_base[:, :, ::3]
    got = getattr(sc, op)(y_view, dy, out=out)
    assert got is out
    assert_backward_close(op, out, y, dy)
    assert np.all(out_base[:, :, 1::3] == -5) and np.all(out_base[:, :, 2::3] == -5)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("which", ["y", "dy"])
def test_out_may_be_an_input(sc, rng, op, which):
    y, dy = forward_pair(sc, rng, op, (9, 130), np.float32)
    want = getattr(sc, op)(y, dy)
    target = y if which == "y" else dy
    got = getattr(sc, op)(y, dy, out=target)
    assert got is target
    np.testing.assert_array_equal(target, want)


@pytest.mark.parametrize("op", OPS)
def test_out_partially_overlapping_an_input(sc, rng, op):
    y, dy = forward_pair(sc, rng, op, (4, 10), np.float64)
    want = getattr(sc, op)(y, dy)
    buf = np.concatenate([dy.ravel(), np.zeros(5)])
    dy_view = buf[:40].reshape(4, 10)
    out = buf[5:].reshape(4, 10)
    getattr(sc, op)(y, dy_view, out=out)
    np.testing.assert_array_equal(buf[5:].reshape(4, 10), want)


def test_out_layout_that_cannot_be_merged(sc, rng):
    y, dy = forward_pair(sc, rng, "softmax_backward", (4, 5, 6), np.float64, axis=(1, 2))
    out = np.empty((6, 5, 4)).transpose(2, 1, 0)
    sc.softmax_backward(y, dy, (1, 2), out=out)
    assert_backward_close("softmax_backward", out, y, dy, axis=(1, 2))


# ---- dtypes and special values --------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
def test_dtype_rules(sc, rng, op):
    y, dy = forward_pair(sc, rng, op, (3, 4), np.float32)
    assert getattr(sc, op)(y, dy).dtype == np.float32
    assert getattr(sc, op)(y, dy.astype(np.float64)).dtype == np.float64
    assert getattr(sc, op)(y.astype(np.float16), dy.astype(np.float16)).dtype == np.float32
    assert getattr(sc, op)(y.astype(">f8"), dy).dtype == np.float64
    assert getattr(sc, op)([[0.5, 0.5]], [[1, 2]]).dtype == np.float64


def test_masked_entries(sc):
    y = np.array([[np.log(0.25), np.log(0.75), -np.inf]])   # log_softmax, one masked
    dy = np.array([[1.0, -2.0, 3.0]])
    dx = sc.log_softmax_backward(y, dy)
    assert dx[0, 2] == 3.0                          # dy - 0 * sum
    np.testing.assert_allclose(dx[0, :2], [1 - 0.25 * 2, -2 - 0.75 * 2], rtol=1e-15)
    sx = sc.softmax_backward(np.exp(y), dy)         # softmax output with a 0 entry
    assert sx[0, 2] == 0.0


def test_nan_poisons_only_its_row(sc, rng):
    y, dy = forward_pair(sc, rng, "softmax_backward", (3, 5), np.float64)
    dy[1, 2] = np.nan
    dx = sc.softmax_backward(y, dy)
    assert np.all(np.isnan(dx[1])) and np.all(np.isfinite(dx[[0, 2]]))


@pytest.mark.parametrize("op", OPS)
def test_empty_and_zero_d(sc, op):
    f = getattr(sc, op)
    assert f(np.zeros((0, 3)), np.zeros((0, 3))).shape == (0, 3)
    assert f(np.zeros((3, 0)), np.zeros((3, 0))).shape == (3, 0)
    # a 0-d array is one row of one element: the gradient through it is 0
    assert f(np.float64(0.0 if op == "log_softmax_backward" else 1.0), 2.0, None) == 0.0


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("dtype", DTYPES)
def test_threads_give_bitwise_identical_results(sc, rng, op, dtype):
    y, dy = forward_pair(sc, rng, op, (300, 1000), dtype)
    one = getattr(sc, op)(y, dy, threads=1)
    two = getattr(sc, op)(y, dy, threads=2)
    assert one.tobytes() == two.tobytes()


# ---- bad input --------------------------------------------------------------------------------

BAD = [
    (dict(dy=np.zeros((4, 2))), ValueError, "dy"),
    (dict(y=np.zeros((4, 3), dtype=complex)), TypeError, "y"),
    (dict(dy=np.array([["a"] * 3] * 4)), TypeError, "dy"),
    (dict(axis=2), np.exceptions.AxisError, "axis"),
    (dict(axis=1.5), TypeError, "axis"),
    (dict(out=np.zeros((4, 3), dtype=np.float32)), TypeError, "out"),
    (dict(out=np.zeros((3, 4))), ValueError, "out"),
    (dict(out=[[0.0] * 3] * 4), TypeError, "out"),
    (dict(threads=-1), ValueError, "threads"),
]


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("override,exc,fragment", BAD)
def test_bad_input(sc, op, override, exc, fragment):
    kwargs = dict(y=np.full((4, 3), 1 / 3), dy=np.ones((4, 3)))
    kwargs.update(override)
    out = kwargs.get("out")
    before = out.copy() if isinstance(out, np.ndarray) else None
    with pytest.raises(exc, match=fragment):
        getattr(sc, op)(**kwargs)
    if before is not None:
        np.testing.assert_array_equal(out, before)
