"""Error measurement in units in the last place (ulp) of the output dtype.

Two measures, both from the softmax_c accuracy contract (issue 2):

* ``relative_ulp``: |got - ref| / spacing(dtype(ref)).  Used for softmax,
  whose values are probabilities: an error is judged against the size of the
  value itself.  ``np.spacing`` of a subnormal is the subnormal spacing, so
  subnormal results are measured on their own (coarser) grid.
* ``log_ulp``: |got - ref| / spacing(dtype(|ref| + log(n) + 1)).  Used for
  log_softmax and logsumexp, whose values near 0 come from cancellation of
  terms of size ~|ref| + log(n); an absolute error against that scale is
  the meaningful one.

Both treat special values exactly: equal infinities and NaN-vs-NaN are 0
error, any other mismatch (NaN vs number, inf vs finite, wrong sign of inf)
is an infinite error.

The module also keeps the worst error seen per (op, dtype, isa, measure) so
that the test session can print a summary (see conftest.py).
"""

import numpy as np

LD = np.longdouble

# (op, dtype, isa, measure) -> worst error in ulp seen during the session
WORST = {}
# what ISA the running test uses; set by the ``isa`` fixture in conftest.py
CURRENT_ISA = ["default"]


def _special_mismatch(got, ref):
    """Error contribution of non-finite values: 0 where they agree, inf where not."""
    got_nan, ref_nan = np.isnan(got), np.isnan(ref)
    both_nan = got_nan & ref_nan
    same_inf = np.isinf(ref) & (got == ref)
    agree = both_nan | same_inf
    either_special = got_nan | ref_nan | np.isinf(got) | np.isinf(ref)
    return either_special, agree


def _error_in_units(got, ref, unit, dtype):
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=LD)
    got_ld = got.astype(LD)
    # Special values are judged after rounding the reference to the output
    # dtype: a true value beyond the dtype's range must come out as +-inf.
    with np.errstate(over="ignore", invalid="ignore"):
        ref_rounded = ref.astype(dtype).astype(LD)
    special, agree = _special_mismatch(got_ld, ref_rounded)
    with np.errstate(invalid="ignore", over="ignore"):
        err = np.abs(got_ld - ref) / unit.astype(LD)
    err = np.where(special, np.where(agree, LD(0), LD(np.inf)), err)
    return err.astype(np.float64)


def relative_ulp(got, ref, dtype=None):
    """Per-element |got - ref| in ulp of ``dtype`` at the reference value."""
    got = np.asarray(got)
    dtype = np.dtype(dtype or got.dtype)
    ref = np.asarray(ref, dtype=LD)
    with np.errstate(over="ignore", invalid="ignore"):
        unit = np.abs(np.spacing(np.abs(ref).astype(dtype)))
    return _error_in_units(got, ref, unit, dtype)


def log_ulp(got, ref, n, dtype=None):
    """Per-element |got - ref| in ulp of ``dtype`` at |ref| + log(n) + 1."""
    got = np.asarray(got)
    dtype = np.dtype(dtype or got.dtype)
    ref = np.asarray(ref, dtype=LD)
    with np.errstate(over="ignore", invalid="ignore"):
        scale = np.abs(ref) + np.log(LD(max(n, 1))) + 1
        unit = np.abs(np.spacing(scale.astype(dtype)))
    return _error_in_units(got, ref, unit, dtype)


def record(op, dtype, measure, worst):
    key = (op, np.dtype(dtype).name, CURRENT_ISA[0], measure)
    if np.isfinite(worst):
        WORST[key] = max(WORST.get(key, 0.0), float(worst))


def _describe_worst(err, got, ref, x=None):
    idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
    text = (f"worst {float(err[idx]):.3g} ulp at index {idx}: "
            f"got {np.asarray(got)[idx]!r}, ref {np.asarray(ref)[idx]!r}")
    if x is not None and np.shape(x) == np.shape(got):
        text += f", input {np.asarray(x)[idx]!r}"
    return text


def _check(err, max_ulp, got, ref, what, x):
    worst = float(np.max(err)) if err.size else 0.0
    assert worst <= max_ulp, (
        f"{what}: error above {max_ulp} ulp; " + _describe_worst(err, got, ref, x))
    return worst


def assert_softmax_close(got, ref, max_ulp, *, op="softmax", x=None, what=""):
    """Assert relative error <= max_ulp per element (and record the worst)."""
    got = np.asarray(got)
    err = relative_ulp(got, ref)
    worst = _check(err, max_ulp, got, ref, what or op, x)
    record(op, got.dtype, "rel", worst)
    return worst


def assert_log_close(got, ref, n, max_ulp, *, op, x=None, what=""):
    """Assert error <= max_ulp ulp of (|ref| + log n + 1) per element."""
    got = np.asarray(got)
    err = log_ulp(got, ref, n)
    worst = _check(err, max_ulp, got, ref, what or op, x)
    record(op, got.dtype, "log", worst)
    return worst


def assert_same_specials(got, ref):
    """NaN exactly where the reference is NaN, and equal infinities."""
    got = np.asarray(got)
    ref = np.asarray(ref)
    np.testing.assert_array_equal(np.isnan(got), np.isnan(ref), err_msg="NaN pattern")
    np.testing.assert_array_equal(got[np.isinf(ref)], ref[np.isinf(ref)].astype(got.dtype),
                                  err_msg="infinities")
