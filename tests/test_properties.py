"""Property tests (hypothesis): identities that hold for any input, checked
with tolerances derived from the issue-2 accuracy bounds.

Values for the ulp-based properties are kept in [-12, 12]: a row spread of
<= 24, as in the issue-2 workload (N(0, 4^2) rows of 1024 span about 26),
so the per-element bounds apply.  Sum-to-one and layout properties use wider
ranges, where only the mass-weighted error matters."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import reference
from checks import (LOG_ULP, OPS, SOFTMAX_ULP_SHORT, assert_result_matches_reference,
                    row_length)
from ulp import log_ulp, relative_ulp

LD = np.longdouble

# The isa fixture is function-scoped; it only switches the variant, which
# stays valid for every example of the test.
PROPERTY_SETTINGS = settings(max_examples=60, deadline=None,
                             suppress_health_check=[HealthCheck.function_scoped_fixture])

dtypes = st.sampled_from([np.float32, np.float64])


@st.composite
def arrays_and_axis(draw, lo=-12.0, hi=12.0, max_dims=3, max_side=12):
    dtype = draw(dtypes)
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=max_dims, min_side=1, max_side=max_side))
    width = 32 if dtype == np.float32 else 64
    x = draw(hnp.arrays(dtype, shape, elements=st.floats(lo, hi, width=width)))
    axis = draw(st.integers(-len(shape), len(shape) - 1))
    return x, axis


def _ld(a):
    return np.asarray(a).astype(LD)


@PROPERTY_SETTINGS
@given(data=arrays_and_axis(lo=-200.0, hi=200.0))
def test_softmax_rows_sum_to_one(sc, isa, data):
    x, axis = data
    total = np.sum(_ld(sc.softmax(x, axis=axis)), axis=axis)   # longdouble: exact enough
    # Each probability is within 16 ulp, i.e. within 16 eps * p relative, so
    # the row sum is within 16 eps of 1; twice that for rows wider than the
    # issue-2 workload (values in [-200, 200]).
    tol = 2 * SOFTMAX_ULP_SHORT * np.finfo(x.dtype).eps
    assert np.all(np.abs(total - 1) <= tol), f"max |sum - 1| = {np.max(np.abs(total - 1))}"


@st.composite
def grid_rows_and_shift(draw):
    # Multiples of 1/8 within [-12, 12] and an integer shift c: x + c is exact
    # in float32 and float64, so softmax(x + c) and softmax(x) are the same
    # exact numbers and may only differ by the two rounding errors.
    dtype = draw(dtypes)
    n_rows = draw(st.integers(1, 4))
    n = draw(st.integers(1, 40))
    k = draw(hnp.arrays(np.int64, (n_rows, n), elements=st.integers(-96, 96)))
    c = draw(st.integers(-1000, 1000))
    return (k / 8).astype(dtype), dtype(c)


@PROPERTY_SETTINGS
@given(data=grid_rows_and_shift())
def test_softmax_is_shift_invariant(sc, isa, data):
    x, c = data
    assert np.array_equal((x + c) - c, x)                  # the shift is exact
    base, shifted = sc.softmax(x), sc.softmax(x + c)
    # both within 16 ulp of the same exact value
    assert np.max(relative_ulp(shifted, base)) <= 2 * SOFTMAX_ULP_SHORT + 1
    # logsumexp(x + c) == logsumexp(x) + c, each side within 16 ulp of its
    # own scale (|value| + log n + 1)
    lse, lse_shifted = sc.logsumexp(x), sc.logsumexp(x + c)
    log_n = np.log(LD(x.shape[-1]))
    units = [np.spacing((np.abs(_ld(v)) + log_n + 1).astype(x.dtype)).astype(LD)
             for v in (lse, lse_shifted)]
    err = np.abs(_ld(lse_shifted) - (_ld(lse) + LD(float(c))))
    assert np.all(err <= LOG_ULP * (units[0] + units[1]))


@PROPERTY_SETTINGS
@given(data=arrays_and_axis())
def test_exp_of_log_softmax_is_softmax(sc, isa, data):
    x, axis = data
    n = row_length(x.shape, axis)
    ls = sc.log_softmax(x, axis=axis)
    sm = sc.softmax(x, axis=axis)
    # log_softmax is within 16 ulp of scale s = |ls| + log n + 1, an absolute
    # error that exp turns into the same relative error; softmax adds its own
    # 16 ulp (<= 16 eps relative).
    eps = np.finfo(x.dtype).eps
    scale = (np.abs(_ld(ls)) + np.log(LD(n)) + 1).astype(x.dtype)
    rel_bound = LOG_ULP * np.spacing(scale).astype(LD) + SOFTMAX_ULP_SHORT * LD(eps)
    smallest = np.finfo(x.dtype).smallest_normal
    err = np.abs(np.exp(_ld(ls)) - _ld(sm))
    # values below the normal range only need agreement in absolute terms
    assert np.all(err <= rel_bound * _ld(sm) * 1.0001 + LD(smallest) * 16)


@PROPERTY_SETTINGS
@given(data=arrays_and_axis())
def test_log_softmax_is_x_minus_logsumexp(sc, isa, data):
    x, axis = data
    n = row_length(x.shape, axis)
    ls = sc.log_softmax(x, axis=axis)
    lse = sc.logsumexp(x, axis=axis, keepdims=True)
    identity = _ld(x) - _ld(lse)
    # log_softmax within 16 ulp of its scale, logsumexp within 16 ulp of its
    # own scale (|lse| + log n + 1), which is at most |x| + 2 log n + 2 and
    # hence at most ~twice the log_softmax scale: 3 x 16 ulp in all.
    assert np.max(log_ulp(ls, identity, n)) <= 3 * LOG_ULP


@PROPERTY_SETTINGS
@given(data=arrays_and_axis())
def test_softmax_is_exp_of_x_minus_logsumexp(sc, isa, data):
    x, axis = data
    n = row_length(x.shape, axis)
    sm = sc.softmax(x, axis=axis)
    lse = _ld(sc.logsumexp(x, axis=axis, keepdims=True))
    identity = np.exp(_ld(x) - lse)
    # the logsumexp error (16 ulp of |lse| + log n + 1, absolute) becomes a
    # relative error of exp; softmax's own is 16 ulp (<= 16 eps relative).
    eps = LD(np.finfo(x.dtype).eps)
    scale = (np.abs(lse) + np.log(LD(n)) + 1).astype(x.dtype)
    rel_bound = LOG_ULP * np.spacing(scale).astype(LD) + SOFTMAX_ULP_SHORT * eps
    smallest = LD(np.finfo(x.dtype).smallest_normal)
    err = np.abs(_ld(sm) - identity)
    assert np.all(err <= rel_bound * identity * LD(1.0001) + 16 * smallest)


@PROPERTY_SETTINGS
@given(data=arrays_and_axis(max_dims=2))
def test_logsumexp_is_associative_over_axes(sc, isa, data):
    x, _ = data
    whole = sc.logsumexp(x, axis=None)
    by_rows = sc.logsumexp(sc.logsumexp(x, axis=-1), axis=None)
    # two results within 16 ulp each of the same value, plus the inner
    # results' error passing through the outer logsumexp (at most 16 ulp)
    assert np.max(log_ulp(by_rows, _ld(whole), x.size)) <= 3 * LOG_ULP


@PROPERTY_SETTINGS
@given(data=arrays_and_axis())
def test_logsumexp_of_doubled_input(sc, isa, data):
    x, axis = data
    n = row_length(x.shape, axis)
    lse = _ld(sc.logsumexp(x, axis=axis))
    doubled = sc.logsumexp(np.concatenate([x, x], axis=axis), axis=axis)
    weighted = sc.logsumexp(x, axis=axis, b=x.dtype.type(2))
    # log(2 sum e^x) = lse + log 2; each side within 16 ulp of its scale
    assert np.max(log_ulp(doubled, lse + np.log(LD(2)), 2 * n)) <= 2 * LOG_ULP + 1
    assert np.max(log_ulp(weighted, lse + np.log(LD(2)), n)) <= 2 * LOG_ULP + 1


@st.composite
def layouts(draw):
    x, axis = draw(arrays_and_axis(lo=-50.0, hi=50.0))
    kind = draw(st.sampled_from(["F", "strided", "reversed", "transposed-copy"]))
    if kind == "F":
        y = np.asfortranarray(x)
    elif kind == "strided":
        steps = draw(st.lists(st.sampled_from([1, 2, 3, -1, -2]), min_size=x.ndim,
                              max_size=x.ndim))
        big = np.zeros(tuple(s * abs(k) for s, k in zip(x.shape, steps)), dtype=x.dtype)
        view = big[tuple(slice(None, None, k) for k in steps)]
        view = view[tuple(slice(0, s) for s in x.shape)]
        view[...] = x
        y = view
    elif kind == "reversed":
        y = x[tuple(slice(None, None, -1) for _ in x.shape)].copy()
        y = y[tuple(slice(None, None, -1) for _ in x.shape)]
    else:
        y = np.ascontiguousarray(x.T).T
    assert np.array_equal(x, y)
    return x, y, axis


@PROPERTY_SETTINGS
@given(data=layouts(), op=st.sampled_from(OPS))
def test_results_do_not_depend_on_memory_layout(sc, isa, data, op):
    x, y, axis = data
    fn = getattr(sc, op)
    a, b = fn(x, axis=axis), fn(y, axis=axis)
    ref = getattr(reference, op)(x, axis=axis)
    n = row_length(x.shape, axis)
    # Both layouts must meet the bound against the same reference.  (Values
    # in [-50, 50] go beyond the issue-2 workload, so softmax is compared
    # only where the result is above the smallest normal and with 2x slack.)
    if op == "softmax":
        big = np.abs(ref) >= np.finfo(x.dtype).smallest_normal
        for r in (a, b):
            assert np.max(relative_ulp(r[big], ref[big]), initial=0) <= 4 * SOFTMAX_ULP_SHORT
        assert np.array_equal(np.isnan(a), np.isnan(b))
    else:
        for r in (a, b):
            assert np.max(log_ulp(r, ref, n)) <= LOG_ULP


@PROPERTY_SETTINGS
@given(data=arrays_and_axis(), op=st.sampled_from(OPS))
def test_any_shape_and_axis_matches_reference(sc, isa, data, op):
    x, axis = data
    assert_result_matches_reference(op, x, getattr(sc, op)(x, axis=axis), axis=axis)
