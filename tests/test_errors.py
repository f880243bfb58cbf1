"""Every bad argument raises the documented exception, names the argument
in its message, and leaves ``out`` untouched."""

import numpy as np
import pytest
from numpy.exceptions import AxisError

from checks import ELEMENTWISE_OPS, OPS, fill_pattern

X = np.linspace(-1.0, 1.0, 15, dtype=np.float32).reshape(3, 5)


def _good_out(op, x=X):
    """A valid out for op(x) with the default axis, filled with a sentinel."""
    shape = x.shape if op != "logsumexp" else x.shape[:-1]
    return fill_pattern(shape, x.dtype)


def _call_and_check_out_untouched(sc, op, exc, match=None, *, x=X, out=None, **kwargs):
    """Call op(x, out=out, **kwargs) expecting ``exc``; out (a valid sentinel
    array unless given) must come back unchanged."""
    if out is None:
        out = _good_out(op, x)
    before = out.copy()
    with pytest.raises(exc, match=match) as info:
        getattr(sc, op)(x, out=out, **kwargs)
    np.testing.assert_array_equal(out, before, err_msg="out was modified before the error")
    return info


# --------------------------------------------------------------------------
# x
# --------------------------------------------------------------------------

BAD_X = {
    "complex64": np.ones((2, 3), dtype=np.complex64),
    "complex128": np.ones((2, 3), dtype=np.complex128),
    "object": np.array([[1.0, 2.0], [3.0, None]], dtype=object),
    "str": np.array([["a", "b"], ["c", "d"]]),
    "bytes": np.array([[b"a", b"b"]]),
    "datetime64": np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[D]"),
    "python-complex-list": [[1 + 2j, 3.0]],
}


@pytest.mark.parametrize("name", list(BAD_X))
@pytest.mark.parametrize("op", OPS)
def test_non_real_input_raises_type_error(sc, op, name):
    with pytest.raises(TypeError) as info:
        getattr(sc, op)(BAD_X[name])
    message = str(info.value).lower()
    dtype = np.asarray(BAD_X[name]).dtype
    # the message should say what was wrong: the dtype (by name or kind)
    assert "dtype" in message or dtype.name.rstrip("0123456789") in message, message


# --------------------------------------------------------------------------
# axis
# --------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [2, -3, 100, (0, 2), (-3,), (0, 1, 5)])
@pytest.mark.parametrize("op", OPS)
def test_axis_out_of_range_raises_axis_error(sc, op, axis):
    out = fill_pattern((3, 5), np.float32) if op != "logsumexp" else fill_pattern((3,), np.float32)
    before = out.copy()
    with pytest.raises(AxisError):
        getattr(sc, op)(X, axis=axis, out=out if op != "logsumexp" else None)
    np.testing.assert_array_equal(out, before)


@pytest.mark.parametrize("op", OPS)
def test_axis_on_zero_dimensional_input_raises_axis_error(sc, op):
    with pytest.raises(AxisError):
        getattr(sc, op)(np.float64(1.0), axis=0)


@pytest.mark.parametrize("op", OPS)
def test_repeated_axis_raises_value_error(sc, op):
    # numpy raises ValueError here (issue 6 asks for AxisError, a ValueError subclass)
    with pytest.raises(ValueError, match="axis|repeated|duplicate"):
        getattr(sc, op)(X, axis=(1, 1))
    with pytest.raises(ValueError, match="axis|repeated|duplicate"):
        getattr(sc, op)(X, axis=(0, -2))


@pytest.mark.parametrize("axis", [1.0, "0", [0]])
@pytest.mark.parametrize("op", OPS)
def test_axis_of_wrong_type_raises_type_error(sc, op, axis):
    with pytest.raises(TypeError):
        getattr(sc, op)(X, axis=axis)


# --------------------------------------------------------------------------
# temperature
# --------------------------------------------------------------------------

@pytest.mark.parametrize("t", [0.0, -0.0, -1.0, -1e-300, np.inf, -np.inf, np.nan])
@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
def test_bad_temperature_raises_value_error(sc, op, t):
    _call_and_check_out_untouched(sc, op, ValueError, "temperature", temperature=t)


@pytest.mark.parametrize("op", ELEMENTWISE_OPS)
def test_temperature_of_wrong_type(sc, op):
    _call_and_check_out_untouched(sc, op, (TypeError, ValueError), "temperature",
                                  temperature="hot")


def test_logsumexp_has_no_temperature(sc):
    with pytest.raises(TypeError):
        sc.logsumexp(X, temperature=2.0)


# --------------------------------------------------------------------------
# out
# --------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
def test_out_of_wrong_shape_raises_value_error(sc, op):
    for shape in [(3, 4), (5, 3), (1, 5), (15,), (3, 5, 1), ()]:
        if op == "logsumexp" and shape == (3,):
            continue
        out = fill_pattern(shape if op != "logsumexp" else shape + (2,), np.float32)
        _call_and_check_out_untouched(sc, op, ValueError, "out", out=out)


def test_logsumexp_out_shape_must_follow_keepdims(sc):
    _call_and_check_out_untouched(sc, "logsumexp", ValueError, "out",
                                  out=fill_pattern((3,), np.float32), keepdims=True)
    _call_and_check_out_untouched(sc, "logsumexp", ValueError, "out",
                                  out=fill_pattern((3, 1), np.float32), keepdims=False)


@pytest.mark.parametrize("out_dtype", [np.float64, np.float16, np.int32, np.complex64])
@pytest.mark.parametrize("op", OPS)
def test_out_of_wrong_dtype_raises_type_error(sc, op, out_dtype):
    shape = X.shape if op != "logsumexp" else X.shape[:1]
    out = np.full(shape, 7, dtype=out_dtype)
    _call_and_check_out_untouched(sc, op, TypeError, "out", out=out)


@pytest.mark.parametrize("op", OPS)
def test_float64_input_rejects_float32_out(sc, op):
    x = X.astype(np.float64)
    shape = x.shape if op != "logsumexp" else x.shape[:1]
    _call_and_check_out_untouched(sc, op, TypeError, "out", x=x,
                                  out=fill_pattern(shape, np.float32))


@pytest.mark.parametrize("op", OPS)
def test_read_only_out_raises_value_error(sc, op):
    out = _good_out(op)
    out.flags.writeable = False
    _call_and_check_out_untouched(sc, op, ValueError, "out", out=out)


@pytest.mark.parametrize("bad_out", [[0.0] * 5, 3.0, "out", np.float32(0)])
@pytest.mark.parametrize("op", OPS)
def test_out_that_is_not_an_ndarray_raises_type_error(sc, op, bad_out):
    with pytest.raises(TypeError, match="out"):
        getattr(sc, op)(X[0] if op != "logsumexp" else X, out=bad_out)


# --------------------------------------------------------------------------
# threads
# --------------------------------------------------------------------------

@pytest.mark.parametrize("threads", [0, -1, -100])
@pytest.mark.parametrize("op", OPS)
def test_threads_below_one_raise_value_error(sc, op, threads):
    _call_and_check_out_untouched(sc, op, ValueError, "threads", threads=threads)


@pytest.mark.parametrize("threads", [1.5, "2", 2.0])
@pytest.mark.parametrize("op", OPS)
def test_threads_not_an_int_raise_type_error(sc, op, threads):
    _call_and_check_out_untouched(sc, op, TypeError, "threads", threads=threads)


@pytest.mark.parametrize("op", OPS)
def test_numpy_integer_threads_are_accepted(sc, op):
    np.testing.assert_array_equal(getattr(sc, op)(X, threads=np.int64(2)),
                                  getattr(sc, op)(X))


# --------------------------------------------------------------------------
# b (logsumexp weights)
# --------------------------------------------------------------------------

# (2, 3, 5): broadcasting with x would grow the result; issue 2 says the
# weights are broadcastable *to* x, so the result keeps x's reduced shape.
@pytest.mark.parametrize("b_shape", [(4,), (3, 4), (2, 3, 5)])
def test_weights_not_broadcastable_to_x_raise_value_error(sc, b_shape):
    b = np.ones(b_shape, dtype=np.float32)
    with pytest.raises(ValueError):
        sc.logsumexp(X, b=b)
    _call_and_check_out_untouched(sc, "logsumexp", ValueError, None, b=b)


@pytest.mark.parametrize("b", [np.ones((3, 5), dtype=np.complex128), np.array([["a"] * 5] * 3)])
def test_non_real_weights_raise_type_error(sc, b):
    with pytest.raises(TypeError):
        sc.logsumexp(X, b=b)


# --------------------------------------------------------------------------
# positional use of keyword-only arguments
# --------------------------------------------------------------------------

@pytest.mark.parametrize("op", OPS)
def test_options_are_keyword_only(sc, op):
    with pytest.raises(TypeError):
        getattr(sc, op)(X, -1, 2.0)
