"""logsumexp's own options, b (weights), keepdims, return_sign and out,
against scipy.special.logsumexp (semantics) and the longdouble reference
(accuracy).  softmax_c's default axis is -1, SciPy's is None: every call
here passes axis explicitly to both."""

import numpy as np
import pytest
import scipy.special

import reference
from checks import FLOAT_DTYPES, LOG_ULP, fill_pattern, normal_rows, row_length
from ulp import assert_log_close, log_ulp, record

SHAPE = (6, 5, 23)


def _scipy(x, axis, **kw):
    with np.errstate(all="ignore"):
        return scipy.special.logsumexp(x, axis=axis, **kw)


def _assert_same_semantics_as_scipy(got, want, dtype):
    """NaN, infinities and signs exactly as SciPy; finite values close (SciPy
    is only the semantic oracle here, accuracy is checked against reference)."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg="NaN pattern")
    inf = np.isinf(want)
    np.testing.assert_array_equal(got[inf], want[inf], err_msg="infinities")
    tol = 1e-5 if dtype == np.float32 else 1e-12
    finite = np.isfinite(want)
    np.testing.assert_allclose(got[finite], want[finite], rtol=tol, atol=tol)


def _weights(kind, rng, dtype):
    return {
        "scalar": dtype(2.5),
        "same-shape": rng.uniform(0.5, 2.0, SHAPE).astype(dtype),
        "last-axis": rng.uniform(0.5, 2.0, SHAPE[-1:]).astype(dtype),
        "column": rng.uniform(0.5, 2.0, (SHAPE[0], 1, 1)).astype(dtype),
        "middle": rng.uniform(0.5, 2.0, (1, SHAPE[1], 1)).astype(dtype),
    }[kind]


@pytest.mark.parametrize("axis", [-1, 0, 1, None, (0, 2)])
@pytest.mark.parametrize("kind", ["scalar", "same-shape", "last-axis", "column", "middle"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_positive_weights(sc, isa, rng, dtype, kind, axis):
    x = normal_rows(rng, SHAPE, dtype)
    b = _weights(kind, rng, dtype)
    got = sc.logsumexp(x, axis=axis, b=b)
    assert got.dtype == dtype
    _assert_same_semantics_as_scipy(got, _scipy(x, axis, b=b), dtype)
    # Positive weights are logsumexp(x + log b): the issue-2 bound applies.
    assert_log_close(got, reference.logsumexp(x, axis=axis, b=b), row_length(SHAPE, axis),
                     LOG_ULP, op="logsumexp")


def _signed_tolerance(x, b, axis, ref_value, dtype):
    """Issue-2 bound plus the cancellation of a signed sum: summing terms of
    total magnitude A to a result S loses up to ~A/|S| relative accuracy, i.e.
    an absolute error in log|S| of 16 eps * A/|S| (16 as in the bound)."""
    magnitude = reference.logsumexp(x, axis=axis, b=np.abs(b))     # log A
    eps = np.finfo(dtype).eps
    return 16 * eps * np.exp((magnitude - ref_value).astype(np.float64))


@pytest.mark.parametrize("axis", [-1, 0, None])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_signed_weights_with_return_sign(sc, isa, rng, dtype, axis):
    x = normal_rows(rng, SHAPE, dtype)
    b = rng.normal(0, 1, SHAPE).astype(dtype)
    value, sign = sc.logsumexp(x, axis=axis, b=b, return_sign=True)
    want_value, want_sign = _scipy(x, axis, b=b, return_sign=True)
    assert value.dtype == dtype
    np.testing.assert_array_equal(np.asarray(sign), want_sign)
    _assert_same_semantics_as_scipy(value, want_value, dtype)
    ref_value, ref_sign = reference.logsumexp(x, axis=axis, b=b, return_sign=True)
    np.testing.assert_array_equal(np.asarray(sign), ref_sign.astype(np.float64))
    n = row_length(SHAPE, axis)
    unit = np.spacing((np.abs(ref_value) + np.log(n) + 1).astype(dtype)).astype(np.float64)
    err = np.abs(value.astype(np.longdouble) - ref_value).astype(np.float64)
    bound = LOG_ULP * unit + _signed_tolerance(x, b, axis, ref_value, dtype)
    assert np.all(err <= bound), f"worst excess {np.max(err / bound):.3g} x bound"
    record("logsumexp(signed b)", dtype, "log", float(np.max(err / unit)))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_negative_total_without_return_sign_is_nan(sc, isa, dtype):
    x = np.array([[1.0, 2.0], [2.0, 1.0], [1.0, 1.0]], dtype=dtype)
    b = np.array([1.0, -1.0], dtype=dtype)
    with np.errstate(all="ignore"):
        got = sc.logsumexp(x, b=b)
    # row 0: e - e^2 < 0 -> NaN (SciPy >= 1.15); row 1 positive; row 2: exactly 0
    assert np.isnan(got[0])
    assert np.isfinite(got[1])
    assert got[2] == -np.inf
    _assert_same_semantics_as_scipy(got, _scipy(x, -1, b=b), dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_exact_cancellation_gives_minus_inf_and_sign_zero(sc, isa, dtype):
    x = np.array([[3.0, 3.0, -np.inf]], dtype=dtype)
    b = np.array([[2.0, -2.0, 1.0]], dtype=dtype)
    value, sign = sc.logsumexp(x, b=b, return_sign=True)
    assert value[0] == -np.inf and sign[0] == 0


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_zero_weight_drops_the_term_even_if_inf_or_nan(sc, isa, dtype):
    x = np.array([[np.inf, 1.0, 2.0], [np.nan, 1.0, 2.0], [5.0, 1.0, 2.0]], dtype=dtype)
    b = np.array([0.0, 1.0, 1.0], dtype=dtype)
    with np.errstate(all="ignore"):
        got = sc.logsumexp(x, b=b)
    want = np.logaddexp(1.0, 2.0)
    np.testing.assert_allclose(got, [want] * 3, rtol=4 * np.finfo(dtype).eps)
    _assert_same_semantics_as_scipy(got, _scipy(x, -1, b=b), dtype)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_masking_with_zero_weights_equals_dropping(sc, isa, rng, dtype):
    x = normal_rows(rng, (10, 50), dtype)
    keep = rng.random(x.shape) < 0.7
    keep[:, 0] = True
    got = sc.logsumexp(x, b=keep.astype(dtype))
    for i in range(x.shape[0]):
        kept_row = x[i][keep[i]][None, :]
        want = reference.logsumexp(kept_row)
        assert_log_close(got[i:i + 1], want, kept_row.size, LOG_ULP, op="logsumexp")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_infinite_entries_with_weights(sc, isa, dtype):
    x = np.array([[np.inf, 0.0], [np.inf, 0.0], [np.inf, np.inf], [-np.inf, -np.inf]],
                 dtype=dtype)
    b = np.array([[2.0, 1.0], [-1.0, 1.0], [1.0, -1.0], [1.0, -1.0]], dtype=dtype)
    with np.errstate(all="ignore"):
        value, sign = sc.logsumexp(x, b=b, return_sign=True)
        want_value, want_sign = _scipy(x, -1, b=b, return_sign=True)
    _assert_same_semantics_as_scipy(value, want_value, dtype)
    np.testing.assert_array_equal(sign[:2], want_sign[:2])     # +1 and -1 at +inf
    assert value[3] == -np.inf and sign[3] == 0


@pytest.mark.parametrize("b", [[1, 2, 3], 2, True])
def test_weights_from_python_objects(sc, b):
    x = np.array([[0.5, 1.5, -2.0], [1.0, 1.0, 1.0]])
    got = sc.logsumexp(x, b=b)
    _assert_same_semantics_as_scipy(got, _scipy(x, -1, b=b), np.float64)


# --------------------------------------------------------------------------
# keepdims, return_sign and out together
# --------------------------------------------------------------------------

@pytest.mark.parametrize("axis", [-1, 0, 1, None, (0, 2), (2, 1, 0)])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_keepdims_shape_and_values(sc, isa, rng, dtype, axis):
    x = normal_rows(rng, SHAPE, dtype)
    got = sc.logsumexp(x, axis=axis, keepdims=True)
    want = _scipy(x, axis, keepdims=True)
    assert got.shape == np.shape(want)
    assert got.ndim == x.ndim
    _assert_same_semantics_as_scipy(got, want, dtype)
    np.testing.assert_array_equal(got.reshape(-1), sc.logsumexp(x, axis=axis).reshape(-1))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_return_sign_without_weights(sc, isa, rng, dtype, keepdims):
    x = normal_rows(rng, SHAPE, dtype)
    x[0, 0, :] = -np.inf
    result = sc.logsumexp(x, axis=-1, keepdims=keepdims, return_sign=True)
    assert isinstance(result, tuple) and len(result) == 2
    value, sign = result
    want_value, want_sign = _scipy(x, -1, keepdims=keepdims, return_sign=True)
    assert np.shape(sign) == np.shape(want_sign)
    np.testing.assert_array_equal(sign, want_sign)        # 0 for the all -inf row, else 1
    np.testing.assert_array_equal(value, sc.logsumexp(x, axis=-1, keepdims=keepdims))


@pytest.mark.parametrize("keepdims", [False, True])
def test_out_receives_the_value_with_return_sign(sc, isa, rng, keepdims):
    x = normal_rows(rng, (4, 30), np.float32)
    b = rng.normal(0, 1, (4, 30)).astype(np.float32)
    out = fill_pattern((4, 1) if keepdims else (4,), np.float32)
    value, sign = sc.logsumexp(x, b=b, keepdims=keepdims, return_sign=True, out=out)
    assert value is out
    want_value, want_sign = sc.logsumexp(x, b=b, keepdims=keepdims, return_sign=True)
    np.testing.assert_array_equal(out, want_value)
    np.testing.assert_array_equal(sign, want_sign)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_out_with_keepdims(sc, isa, rng, dtype):
    x = normal_rows(rng, SHAPE, dtype)
    out = fill_pattern((6, 1, 23), dtype)
    assert sc.logsumexp(x, axis=1, keepdims=True, out=out) is out
    want = reference.logsumexp(x, axis=1, keepdims=True)
    assert_log_close(out, want, SHAPE[1], LOG_ULP, op="logsumexp")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=["f32", "f64"])
def test_axis_none_gives_a_zero_dimensional_result(sc, rng, dtype):
    x = normal_rows(rng, SHAPE, dtype)
    got = sc.logsumexp(x, axis=None)
    assert np.shape(got) == ()
    want = reference.logsumexp(x, axis=None)
    assert np.max(log_ulp(np.asarray(got, dtype=dtype), want, x.size)) <= LOG_ULP
    assert sc.logsumexp(x, axis=None, keepdims=True).shape == (1, 1, 1)
