"""Slow, obviously-right twins of the softmax_c functions.

Everything here is written for clarity, not speed: the input is converted to
``np.longdouble`` (80-bit extended precision on x86, 64-bit mantissa), every
reduced row is shifted by its maximum, and the special cases are spelled out
one by one.  The tests compare softmax_c against these functions; the
functions themselves are checked against SciPy and mpmath in
``test_reference.py``.

Conventions (the softmax_c contract, which follows scipy.special):

* float32 input -> float32 result, float64 -> float64, float16 -> float32,
  integers and bool -> float64, byte-swapped input as its native twin.
* ``axis`` is an int, ``None`` (all elements form one row) or a tuple.
* ``temperature`` t: the result is the op applied to the exact quotient x / t.
"""

import mpmath
import numpy as np
try:                                   # NumPy >= 2
    from numpy.lib.array_utils import normalize_axis_tuple
except ImportError:                    # NumPy 1.x
    from numpy.core.numeric import normalize_axis_tuple

LD = np.longdouble


# --------------------------------------------------------------------------
# dtype rules
# --------------------------------------------------------------------------

def result_dtype(x):
    """The dtype softmax_c must return for input ``x``."""
    dt = np.asarray(x).dtype
    if dt.kind == "f" and dt.itemsize <= 4:      # float16, float32 (any byte order)
        return np.dtype(np.float32)
    if dt.kind == "f" and dt.itemsize == 8:
        return np.dtype(np.float64)
    if dt.kind in "biu":
        return np.dtype(np.float64)
    raise TypeError(f"no softmax_c result dtype for input dtype {dt}")


def _exact_input(x):
    """``x`` as longdouble, after the same rounding softmax_c applies.

    float16 is computed in float32 (exact: float16 values are float32 values);
    integers become float64 first (large integers round there, as in NumPy).
    """
    x = np.asarray(x)
    return x.astype(result_dtype(x)).astype(LD)


# --------------------------------------------------------------------------
# axis handling: move the reduced axes to the end and flatten them into rows
# --------------------------------------------------------------------------

def reduced_axes(ndim, axis):
    """Normalised tuple of reduced axes (raises numpy's AxisError)."""
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, tuple):
        return normalize_axis_tuple(axis, ndim)
    return normalize_axis_tuple(int(axis), ndim)


def _to_rows(x, axis):
    """Return (rows, moved_shape, axes): rows is 2-D (n_rows, row_length)."""
    axes = reduced_axes(x.ndim, axis)
    kept = [d for d in range(x.ndim) if d not in axes]
    moved = np.transpose(x, kept + list(axes))
    n = int(np.prod([x.shape[d] for d in axes], dtype=np.int64))
    n_rows = int(np.prod([x.shape[d] for d in kept], dtype=np.int64))
    return moved.reshape(n_rows, n), moved.shape, axes, kept


def _from_rows(rows, moved_shape, axes, kept):
    """Inverse of _to_rows for element-wise results."""
    moved = rows.reshape(moved_shape)
    order = kept + list(axes)
    return np.transpose(moved, np.argsort(order))


def _reduced_shape(shape, axes, keepdims):
    if keepdims:
        return tuple(1 if d in axes else s for d, s in enumerate(shape))
    return tuple(s for d, s in enumerate(shape) if d not in axes)


# --------------------------------------------------------------------------
# row kernels on a 2-D longdouble array (one row per line)
# --------------------------------------------------------------------------

def _ordinary_rows(rows):
    """Rows with a defined softmax: no NaN, no +inf, at least one finite entry."""
    has_nan = np.isnan(rows).any(axis=1)
    has_pinf = (rows == np.inf).any(axis=1)
    all_minf = (rows == -np.inf).all(axis=1)
    return ~(has_nan | has_pinf | all_minf)


def _shifted(rows, ok):
    """row - max(row) for the ordinary rows (exact in longdouble); 0 elsewhere."""
    safe = np.where(ok[:, None], rows, LD(0))
    return safe - np.max(safe, axis=1, keepdims=True)


def _row_logsumexp(rows):
    """log(sum(exp(row))) per row, with the special values of the contract."""
    if rows.shape[1] == 0:
        return np.full(rows.shape[0], -np.inf, dtype=LD)   # empty sum
    ok = _ordinary_rows(rows)
    safe = np.where(ok[:, None], rows, LD(0))
    m = np.max(safe, axis=1)
    out = m + np.log(np.sum(np.exp(safe - m[:, None]), axis=1))
    out[(rows == -np.inf).all(axis=1)] = -np.inf          # exp(-inf) sums to 0
    out[(rows == np.inf).any(axis=1)] = np.inf
    out[np.isnan(rows).any(axis=1)] = np.nan               # NaN wins over +inf
    return out


def _row_log_softmax(rows):
    if rows.shape[1] == 0:
        return rows.copy()
    ok = _ordinary_rows(rows)
    d = _shifted(rows, ok)
    out = d - np.log(np.sum(np.exp(d), axis=1, keepdims=True))
    out[~ok] = np.nan                                      # no defined distribution
    return out


def _row_softmax(rows):
    if rows.shape[1] == 0:
        return rows.copy()
    ok = _ordinary_rows(rows)
    e = np.exp(_shifted(rows, ok))                         # exp(-inf) == 0 exactly
    out = e / np.sum(e, axis=1, keepdims=True)
    out[~ok] = np.nan
    return out


# --------------------------------------------------------------------------
# public twins
# --------------------------------------------------------------------------

def _elementwise(row_kernel, x, axis, temperature):
    xl = _exact_input(x)
    if temperature != 1.0:
        xl = xl / LD(temperature)
    rows, moved_shape, axes, kept = _to_rows(xl, axis)
    return _from_rows(row_kernel(rows), moved_shape, axes, kept)


def softmax(x, axis=-1, temperature=1.0):
    """Reference softmax, as a longdouble array of x's shape."""
    return _elementwise(_row_softmax, x, axis, temperature)


def log_softmax(x, axis=-1, temperature=1.0):
    """Reference log_softmax, as a longdouble array of x's shape."""
    return _elementwise(_row_log_softmax, x, axis, temperature)


def _row_weighted_logsumexp(rows, weights):
    """(log|sum(b*exp(a))|, sign(sum)) per row, scipy's conventions."""
    value = np.empty(rows.shape[0], dtype=LD)
    sign = np.empty(rows.shape[0], dtype=LD)
    for i, (a, b) in enumerate(zip(rows, weights)):
        keep = b != 0                            # zero weight drops the term, even inf/NaN
        a, b = a[keep], b[keep]
        if a.size == 0 or np.all(a == -np.inf):
            value[i], sign[i] = -np.inf, 0.0     # empty sum
        elif np.any(np.isnan(a)) or np.any(np.isnan(b)):
            value[i], sign[i] = np.nan, np.nan
        elif np.any(a == np.inf):
            total = np.sum(b[a == np.inf])       # the infinite terms decide
            if total == 0:
                value[i], sign[i] = np.nan, np.nan   # inf - inf
            else:
                value[i], sign[i] = np.inf, np.sign(total)
        else:
            m = np.max(a)
            s = np.sum(b * np.exp(a - m))
            value[i] = m + np.log(np.abs(s)) if s != 0 else -np.inf
            sign[i] = np.sign(s)
    return value, sign


def logsumexp(x, axis=-1, b=None, keepdims=False, return_sign=False):
    """Reference logsumexp (longdouble), scipy.special.logsumexp semantics.

    Differences from SciPy are only the default ``axis`` (-1 here) and the
    precision.  A negative total without ``return_sign`` gives NaN.
    """
    xl = _exact_input(x)
    if b is None:
        rows, moved_shape, axes, kept = _to_rows(xl, axis)
        value = _row_logsumexp(rows)
        sign = np.where(value == -np.inf, LD(0), LD(1))
        sign = np.where(np.isnan(value), LD(np.nan), sign)
    else:
        bl = np.asarray(b)
        bl = bl.astype(LD)
        xl, bl = np.broadcast_arrays(xl, bl)
        rows, moved_shape, axes, kept = _to_rows(xl, axis)
        brows, _, _, _ = _to_rows(bl, axis)
        value, sign = _row_weighted_logsumexp(rows, brows)
    shape = _reduced_shape(xl.shape, axes, keepdims)
    value = value.reshape(shape)
    sign = sign.reshape(shape)
    if return_sign:
        return value, sign
    return np.where(sign < 0, LD(np.nan), value)


# --------------------------------------------------------------------------
# mpmath spot checks (float64 rows, 40 significant digits)
# --------------------------------------------------------------------------

def _mp_to_ld(v):
    return LD(mpmath.nstr(v, 30, strip_zeros=False)) if mpmath.isfinite(v) else LD(float(v))


def mp_softmax_row(row):
    """softmax of one finite 1-D row, computed in mpmath at 40 digits."""
    with mpmath.workdps(40):
        xs = [mpmath.mpf(float(v)) for v in row]
        m = max(xs)
        e = [mpmath.exp(v - m) for v in xs]
        s = mpmath.fsum(e)
        return np.array([_mp_to_ld(v / s) for v in e], dtype=LD)


def mp_log_softmax_row(row):
    with mpmath.workdps(40):
        xs = [mpmath.mpf(float(v)) for v in row]
        m = max(xs)
        log_s = mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in xs))
        return np.array([_mp_to_ld((v - m) - log_s) for v in xs], dtype=LD)


def mp_logsumexp_row(row):
    with mpmath.workdps(40):
        xs = [mpmath.mpf(float(v)) for v in row]
        m = max(xs)
        return _mp_to_ld(m + mpmath.log(mpmath.fsum(mpmath.exp(v - m) for v in xs)))
