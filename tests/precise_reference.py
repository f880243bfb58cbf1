"""Precise twins for the accuracy tests and the accuracy report.

``reference.py`` is the readable oracle of the whole contract (any axis,
every special value).  This module is narrower and sharper: rows along the
last axis only, computed so that the reference itself is far more accurate
than the ulp bounds being checked (issue 7), also where the result is tiny:

* everything is evaluated in ``np.longdouble`` (64-bit mantissa on x86);
* ``log_softmax`` is ``(x - m)/T - log1p(S')`` with ``S'`` the sum over the
  entries below the maximum ``m`` (plus ``c - 1`` for a maximum repeated
  ``c`` times), so the dominant entry's value ``-log1p(S')`` keeps its full
  relative precision however small it is; ``log(sum)`` would round ``1 + S'``
  first and lose it;
* ``logsumexp`` is ``m + log1p(S')`` likewise.

The longdouble results are checked against mpmath (``mp_row``) by
``test_accuracy.py`` and by ``bench/accuracy.py`` on a subsample.

Error unit (``ulp_error``): |got - ref| / ulp(ref), where ulp(ref) is the
spacing of the output dtype's grid at the exact value ref:
2^(e - p + 1) for 2^e <= |ref| < 2^(e+1) and p = 24 (float32) or 53
(float64), and the subnormal spacing 2^(emin - p + 1) below the smallest
normal number 2^emin (ref = 0 included).  A correctly rounded result is
within 0.5 of this unit.  Non-finite values must match exactly: equal
infinities and NaN vs NaN count 0, anything else is an infinite error.
"""

import mpmath
import numpy as np

LD = np.longdouble


def _rows(x):
    x = np.asarray(x)
    return x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)


def _shifted(x, temperature):
    """((x - m) / T as longdouble rows, m, mask of the maximum entries, ok rows).

    ok: rows with a defined result (no NaN, no +inf, at least one entry > -inf)."""
    r = _rows(x).astype(LD)
    ok = ~(np.isnan(r).any(axis=1) | (r == np.inf).any(axis=1) | (r == -np.inf).all(axis=1))
    r = np.where(ok[:, None], r, LD(0))
    m = r.max(axis=1, keepdims=True)
    with np.errstate(invalid="ignore"):
        z = (r - m) / LD(temperature)       # exact for float32 input, 2^-64 for float64
    return z, m, r == m, ok


def _log_sum(z, at_max):
    """log(sum exp(z)) = log1p(S' + c - 1): small results keep their precision."""
    s_rest = np.where(at_max, LD(0), np.exp(z)).sum(axis=1, keepdims=True)
    c = at_max.sum(axis=1, keepdims=True).astype(LD)
    return np.log1p(s_rest + (c - 1))


def softmax(x, temperature=1.0):
    """softmax along the last axis, as longdouble, shaped like x."""
    z, _, at_max, ok = _shifted(x, temperature)
    e = np.exp(z)
    out = e / e.sum(axis=1, keepdims=True)
    out[~ok] = np.nan
    return out.reshape(np.shape(x))


def log_softmax(x, temperature=1.0):
    z, _, at_max, ok = _shifted(x, temperature)
    out = z - _log_sum(z, at_max)
    out[~ok] = np.nan
    return out.reshape(np.shape(x))


def logsumexp(x):
    """logsumexp along the last axis (finite rows with -inf entries allowed)."""
    z, m, at_max, ok = _shifted(x, 1.0)
    out = (m + _log_sum(z, at_max))[:, 0]
    out[~ok] = np.nan
    return out.reshape(np.shape(x)[:-1])


def exp(x):
    """exp in longdouble (x86: about 2^-63 relative, far below a float64 ulp)."""
    return np.exp(np.asarray(x).astype(LD))


# --------------------------------------------------------------------------
# error in ulp of the output dtype
# --------------------------------------------------------------------------

def ulp(ref, dtype):
    """Spacing of ``dtype``'s grid at the exact values ``ref`` (longdouble)."""
    fi = np.finfo(dtype)
    p = fi.nmant + 1
    emin = fi.minexp                       # smallest normal number is 2^emin
    ref = np.abs(np.asarray(ref, dtype=LD))
    _, e = np.frexp(ref)                   # ref = f * 2^e, 0.5 <= f < 1
    e = np.maximum(e.astype(np.int64) - 1, emin)
    e = np.where(ref == 0, emin, e)
    return np.ldexp(LD(1), (e - p + 1).astype(np.int32))


def ulp_error(got, ref, dtype=None):
    """Per-element |got - ref| / ulp(ref) (see the module docstring)."""
    got = np.asarray(got)
    dtype = np.dtype(dtype or got.dtype)
    ref = np.asarray(ref, dtype=LD)
    g = got.astype(LD)
    special = ~np.isfinite(g) | ~np.isfinite(ref)
    with np.errstate(over="ignore", invalid="ignore"):
        # a finite exact value beyond the dtype's range must come out as inf
        ref_in_dtype = ref.astype(dtype).astype(LD)
        agree = (np.isnan(g) & np.isnan(ref)) | (g == ref_in_dtype)
        err = np.abs(g - ref) / ulp(ref, dtype)
    err = np.where(special, np.where(agree, 0.0, np.inf), err)
    return err.astype(np.float64)


# --------------------------------------------------------------------------
# mpmath (checks the longdouble twins; slow, for subsamples)
# --------------------------------------------------------------------------

def _mp_to_ld(v):
    if not mpmath.isfinite(v):
        return LD(float(v))
    return LD(mpmath.nstr(v, 30, strip_zeros=False, min_fixed=1, max_fixed=0))


def mp_row(op, row, temperature=1.0, dps=50):
    """op ('softmax', 'log_softmax', 'logsumexp') of one finite-max 1-D row in mpmath.

    Returns longdouble values (an array, or a scalar for logsumexp)."""
    with mpmath.workdps(dps):
        t = mpmath.mpf(float(temperature))
        xs = [mpmath.mpf(float(v)) for v in row]       # float32/64 values are exact
        m = max(xs)
        z = [(v - m) / t if v != -mpmath.inf else -mpmath.inf for v in xs]
        s = mpmath.fsum(mpmath.exp(v) for v in z)
        if op == "softmax":
            return np.array([_mp_to_ld(mpmath.exp(v) / s) for v in z], dtype=LD)
        log_s = mpmath.log(s)
        if op == "log_softmax":
            return np.array([_mp_to_ld(v - log_s) for v in z], dtype=LD)
        return _mp_to_ld(m + log_s)
