"""The common call (a native float32/float64 ndarray, one int axis, no
options) skips the general argument handling of softmax_c/_api.py and
_loss.py.  It must give exactly what the general path gives, and hand
every other call -- including every bad one -- to the general path, which
raises the errors."""

import numpy as np
import pytest

try:
    from numpy.exceptions import AxisError
except ImportError:  # pragma: no cover
    from numpy import AxisError


def _layouts(rng, dtype):
    """Arrays of several shapes and memory layouts."""
    base = rng.standard_normal((6, 7, 9)).astype(dtype)
    return [base, base[:, ::-2, 1:], base.transpose(2, 0, 1), base[0], base[0, 0],
            np.asfortranarray(base), base[:, :0]]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_plain_softmax_call_matches_general_path(sc, rng, op, dtype):
    fn = getattr(sc, op)
    for x in _layouts(rng, dtype):
        for axis in range(-x.ndim, x.ndim):
            fast = fn(x, axis=axis)
            # a one-element tuple axis takes the general path
            general = fn(x, axis=(axis,))
            assert fast.dtype == x.dtype and fast.shape == x.shape
            np.testing.assert_array_equal(fast, general)
            fast_t = fn(x, axis=axis, temperature=2.5, threads=2)
            np.testing.assert_array_equal(fast_t, fn(x, axis=(axis,), temperature=2.5))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_in_place_call_matches_general_path(sc, rng, dtype):
    for op in ("softmax", "log_softmax"):
        fn = getattr(sc, op)
        x = rng.standard_normal((5, 33)).astype(dtype)
        expected = fn(x.copy(), axis=(0,))
        y = x.copy()
        assert fn(y, axis=0, out=y) is y
        np.testing.assert_array_equal(y, expected)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("keepdims", [False, True])
def test_plain_logsumexp_call_matches_general_path(sc, rng, dtype, keepdims):
    for x in _layouts(rng, dtype):
        for axis in range(-x.ndim, x.ndim):
            fast = sc.logsumexp(x, axis=axis, keepdims=keepdims)
            general = sc.logsumexp(x, axis=(axis,), keepdims=keepdims)
            assert type(fast) is type(general)
            assert np.shape(fast) == np.shape(general)
            np.testing.assert_array_equal(fast, general)


def test_plain_logsumexp_of_a_vector_is_a_numpy_scalar(sc):
    v = sc.logsumexp(np.array([0.0, 0.0], np.float32))
    assert isinstance(v, np.float32) and v == np.float32(np.log(2.0))


def test_calls_outside_the_plain_case_still_get_their_errors(sc):
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(AxisError):
        sc.softmax(x, axis=2)
    with pytest.raises(AxisError):
        sc.logsumexp(x, axis=-3)
    with pytest.raises(ValueError, match="read-only"):
        ro = x.copy()
        ro.flags.writeable = False
        sc.log_softmax(ro, out=ro)
    with pytest.raises(ValueError, match="temperature"):
        sc.softmax(x, temperature=float("nan"))
    with pytest.raises(ValueError, match="temperature"):
        sc.softmax(x, temperature=-1.0)
    with pytest.raises(ValueError, match="threads"):
        sc.softmax(x, threads=0)
    with pytest.raises(TypeError, match="threads"):
        sc.logsumexp(x, threads=True)
    with pytest.raises(AxisError):
        sc.softmax(np.float64(1.0))           # 0-d: no axis -1


def test_plain_path_accepts_extreme_but_valid_options(sc, rng):
    x = rng.standard_normal((3, 4))
    # temperatures outside the fast range go through the full check
    for t in (1e-200, 1e200, 2.0**-100, 2.0**100):
        np.testing.assert_array_equal(sc.softmax(x, temperature=t),
                                      sc.softmax(x, axis=(-1,), temperature=t))
    big = sc.softmax(x, threads=10**9)        # clamped, like the general path
    np.testing.assert_array_equal(big, sc.softmax(x, axis=(-1,)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_plain_cross_entropy_call_matches_general_path(sc, rng, dtype, reduction):
    x = rng.standard_normal((5, 4, 6)).astype(dtype)
    for axis in range(-3, 3):
        ax = axis % 3
        shape = x.shape[:ax] + x.shape[ax + 1:]
        t = rng.integers(0, x.shape[ax], shape)
        t.flat[0] = -100                                  # ignored
        for smoothing in (0.0, 0.3):
            kw = dict(reduction=reduction, label_smoothing=smoothing, return_grad=True)
            loss, grad = sc.cross_entropy(x, t, axis, **kw)
            # an np.intp axis takes the general path
            loss_g, grad_g = sc.cross_entropy(x, t, np.intp(axis), **kw)
            assert type(loss) is type(loss_g)
            np.testing.assert_array_equal(loss, loss_g)
            np.testing.assert_array_equal(grad, grad_g)
            y = x.copy()
            loss_i, grad_i = sc.cross_entropy(y, t, axis, grad_out=y, **kw)
            assert grad_i is y
            np.testing.assert_array_equal(loss_i, loss_g)
            np.testing.assert_array_equal(y, grad_g)


def test_plain_cross_entropy_still_checks_its_labels(sc):
    x = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError, match=r"class index 4 at position \(1,\)"):
        sc.cross_entropy(x, np.array([0, 4, 1]), grad_out=x)
    np.testing.assert_array_equal(x, 0.0)             # nothing written
    with pytest.raises(ValueError, match="target"):
        sc.cross_entropy(x, np.array([0, 1]))          # wrong shape: general path
    with pytest.raises(ValueError, match="reduction"):
        sc.cross_entropy(x, np.array([0, 1, 2]), reduction="avg")
    with pytest.raises(ValueError, match="label_smoothing"):
        sc.cross_entropy(x, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="length 0"):
        sc.cross_entropy(np.zeros((3, 0)), np.array([0, 0, 0]))
    # labels that share memory with the logits overwritten in place
    raw = np.zeros(12, np.float64)
    logits = raw.reshape(3, 4)
    labels = raw[:3].view(np.int64)
    loss, grad = sc.cross_entropy(logits, labels, grad_out=logits, return_grad=True)
    assert grad is logits and np.isfinite(loss)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op", ["softmax_backward", "log_softmax_backward"])
def test_plain_backward_call_matches_general_path(sc, rng, op, dtype):
    fn = getattr(sc, op)
    for y in _layouts(rng, dtype):
        dy = rng.standard_normal(y.shape).astype(dtype)
        for axis in range(-y.ndim, y.ndim):
            fast = fn(y, dy, axis=axis)
            general = fn(y, dy, axis=(axis,))
            assert fast.dtype == y.dtype and fast.shape == y.shape
            np.testing.assert_array_equal(fast, general)
    with pytest.raises(ValueError, match="shape"):
        fn(np.zeros((2, 3), dtype), np.zeros((3, 2), dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_plain_calls_with_a_separate_out_match_general_path(sc, rng, dtype):
    x = rng.standard_normal((6, 9)).astype(dtype)
    dy = rng.standard_normal(x.shape).astype(dtype)
    t = rng.integers(0, 9, 6)
    for axis in (0, 1, -1):
        for op in ("softmax", "log_softmax"):
            out = np.full_like(x, np.nan)[::-1]           # strided, separate
            assert getattr(sc, op)(x, axis=axis, out=out) is out
            np.testing.assert_array_equal(out, getattr(sc, op)(x, axis=(axis,)))
        reduced = np.full(x.shape[:axis % 2] + x.shape[axis % 2 + 1:], np.nan, dtype)
        assert sc.logsumexp(x, axis=axis, out=reduced) is reduced
        np.testing.assert_array_equal(reduced, sc.logsumexp(x, axis=(axis,)))
        for op in ("softmax_backward", "log_softmax_backward"):
            out = np.full_like(x, np.nan)
            assert getattr(sc, op)(x, dy, axis=axis, out=out) is out
            np.testing.assert_array_equal(out, getattr(sc, op)(x, dy, axis=(axis,)))
    g = np.full_like(x, np.nan)
    loss, grad = sc.cross_entropy(x, t, grad_out=g, return_grad=True)
    loss_g, grad_g = sc.cross_entropy(x, t, np.intp(-1), return_grad=True)
    assert grad is g and loss == loss_g
    np.testing.assert_array_equal(g, grad_g)
    # an out that overlaps the input takes the general path, which copes
    buf = rng.standard_normal(12).astype(dtype)
    expected = sc.softmax(buf[2:].copy())
    sc.softmax(buf[2:], out=buf[:10])
    np.testing.assert_array_equal(buf[:10], expected)
    # out of the wrong shape or dtype, or read-only: the general path's errors
    with pytest.raises(ValueError, match="shape"):
        sc.softmax(x, out=np.empty((9, 6), dtype))
    with pytest.raises(TypeError, match="dtype"):
        sc.logsumexp(x, out=np.empty(6, np.float16))
    ro = np.empty_like(x)
    ro.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        sc.log_softmax(x, out=ro)
