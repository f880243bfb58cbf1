"""Issue 7: the accuracy of every op, pinned per case and dtype, for every
kernel variant this CPU runs, so that no later change loses it silently.

The cases are the report's (accuracy_cases.py, fewer rows here); errors are
in ulp of the output dtype at the exact value, relative also near 0
(precise_reference.ulp_error), against the longdouble twins of
precise_reference.py, which test_reference_agrees_with_mpmath checks.

BOUNDS holds, per (case, dtype), the largest error measured over the
baseline and AVX2 variants in row and column mode at these row counts
(the AVX-512 variant, first run on AVX-512 hardware later, passes them too),
rounded up by a quarter ulp or so (the data is fixed, so the margin only has
to absorb a different libm's log1p/exp in the per-row constants).  Raise a
bound only with a reason in the commit; the issue-7 targets are softmax and
log_softmax <= 4 ulp, logsumexp <= 1 ulp.
"""

import functools

import numpy as np
import pytest

import precise_reference as ref
from accuracy_cases import CASES, KNOWN_LIMITS, TARGET_ULP, case_dtypes

# measured max (baseline, avx2; rows and columns) -> pinned bound
BOUNDS = {
    ("sm-3", "float32"): 2.75,       # 2.31
    ("sm-30", "float32"): 2.25,      # 2.05
    ("sm-4M", "float32"): 2.75,      # 2.33
    ("sm-rep", "float32"): 1.75,     # 1.39
    ("sm-T0.3", "float32"): 2.25,    # 2.01
    ("sm-T3.7", "float32"): 2.5,     # 2.07
    ("lsm-3", "float32"): 1.25,      # 1.02
    ("lsm-30", "float32"): 1.25,     # 1.00
    ("lsm-dom", "float32"): 1.0,     # 0.65
    ("lsm-inf", "float32"): 1.25,    # 1.01
    ("lsm-T0.3", "float32"): 1.5,    # 1.18
    ("lse-3", "float32"): 0.75,      # 0.51
    ("lse-30", "float32"): 0.75,     # 0.50
    ("lse-peak", "float32"): 0.75,   # 0.49
    ("lse-near0", "float32"): 1.0,   # 0.66
    ("lse-inf", "float32"): 0.75,    # 0.51
    ("lse-10", "float32"): 1.0,      # 0.63
    ("lse-4M", "float32"): 0.5,      # 0.18
    ("sm-3", "float64"): 2.5,        # 2.27
    ("sm-30", "float64"): 2.25,      # 1.84
    ("sm-250", "float64"): 2.0,      # 1.75
    ("sm-4M", "float64"): 2.75,      # 2.36
    ("sm-rep", "float64"): 1.5,      # 1.18
    ("sm-T0.3", "float64"): 2.75,    # 2.44
    ("sm-T3.7", "float64"): 2.5,     # 2.19
    ("lsm-3", "float64"): 1.5,       # 1.18
    ("lsm-30", "float64"): 2.25,     # 1.88
    ("lsm-dom", "float64"): 2.0,     # 1.59
    ("lsm-inf", "float64"): 2.0,     # 1.61
    ("lsm-T0.3", "float64"): 2.0,    # 1.62
    ("lse-3", "float64"): 1.0,       # 0.61
    ("lse-30", "float64"): 0.75,     # 0.50
    ("lse-peak", "float64"): 0.75,   # 0.55
    ("lse-4M", "float64"): 0.5,      # 0.06
    ("lse-inf", "float64"): 1.0,     # 0.61
    # Above the 1-ulp target: KNOWN_LIMITS (notes in bench/results/accuracy.md):
    # float64 sums exps that are each ~0.9 ulp off and rounds log(sum) to
    # 53 bits; where log(sum) is most of the result (short flat rows, or a
    # result near 0) that shows.  Peers: 1.6-2.7 on the report's rows.
    ("lse-near0", "float64"): 1.75,  # 1.49
    ("lse-10", "float64"): 1.5,      # 1.22
}

# vector exp over the whole input range (see the exp tests below)
EXP_BOUND = {"baseline": 1.2, "fma": 0.95}   # measured 1.10/1.17 and 0.86/0.89


def _params():
    """(case, dtype, layout) for every case; one long row has no column layout."""
    out = []
    for c, dt in case_dtypes():
        for layout in ("rows",) if c.long_row else ("rows", "columns"):
            out.append(pytest.param(c, dt, layout, id=f"{c.key}-{np.dtype(dt).name}-{layout}"))
    return out


@functools.lru_cache(maxsize=None)
def _data(key, dtype_name):
    """(case, input, reference, mask) of one case; computed once per session."""
    case = next(c for c in CASES if c.key == key)
    dtype = np.dtype(dtype_name).type
    x = case.inputs(dtype, case.test_rows)
    x.setflags(write=False)
    if case.op == "logsumexp":
        want = ref.logsumexp(x)
    else:
        want = getattr(ref, case.op)(x, case.temperature)
    return case, x, want, case.measured(x)


def _run(sc, case, x, axis):
    kw = {} if case.op == "logsumexp" else {"temperature": case.temperature}
    if axis == -1:
        return getattr(sc, case.op)(x, axis=-1, **kw)
    # the same rows as columns of a C-order array: the column-mode kernels
    got = getattr(sc, case.op)(np.ascontiguousarray(x.T), axis=0, **kw)
    return got if case.op == "logsumexp" else got.T


def test_bounds_cover_every_case_and_meet_or_document_the_target():
    keys = {(c.key, np.dtype(dt).name) for c, dt in case_dtypes()}
    assert keys == set(BOUNDS)
    over = {k for k, b in BOUNDS.items()
            if b > TARGET_ULP[next(c.op for c in CASES if c.key == k[0])]}
    assert over == set(KNOWN_LIMITS)


@pytest.mark.parametrize("case, dtype, layout", _params())
def test_error_within_pinned_bound(sc, isa, case, dtype, layout):
    _, x, want, mask = _data(case.key, np.dtype(dtype).name)
    got = _run(sc, case, x, -1 if layout == "rows" else 0)
    assert got.dtype == dtype
    if mask is not None:
        got, want = got[mask], want[mask]
    got, want = np.ravel(got), np.ravel(want)
    err = ref.ulp_error(got, want, dtype)
    bound = BOUNDS[(case.key, np.dtype(dtype).name)]
    i = int(np.argmax(err))
    assert err[i] <= bound, (
        f"{case.title} ({np.dtype(dtype).name}, {isa}, {layout}): {err[i]:.3g} ulp > {bound}; "
        f"got {got[i]!r}, want {want[i]!r}")


# A few rows of each kind: the longdouble twins must be far more accurate
# than the bounds they check (float64: |x - m|/T is rounded to 64 bits,
# up to 0.03 ulp for |x - m|/T ~ 66; float32: ~1e-10 ulp).
MP_CASES = ["sm-3", "sm-30", "sm-T0.3", "lsm-dom", "lsm-inf", "lse-near0", "lse-10"]


@pytest.mark.parametrize("key", MP_CASES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_reference_agrees_with_mpmath(key, dtype):
    case, x, want, mask = _data(key, np.dtype(dtype).name)
    rows = 6 if (case.dominant_only or case.op == "logsumexp") else 1
    exact = np.array([ref.mp_row(case.op, r, case.temperature) for r in x[:rows]])
    err = ref.ulp_error(want[:rows], exact, dtype)
    if mask is not None:
        err = err[mask[:rows]]
    assert err.max() <= (1e-6 if dtype == np.float32 else 0.05)


# ---- the vector exp, over the whole input range -----------------------------

def _exp_bound(isa):
    return EXP_BOUND["baseline" if isa == "baseline" else "fma"]


def _vector_exp(sc, x):
    y = np.empty_like(x)
    sc._core.vector_exp(x, y)
    return y


def _float32_grid():
    """Every 257th float32 in [-104, 89] (the odd stride varies the low
    mantissa bits), plus every float32 in [-104, -87] (subnormal and
    underflowing results) and in [88, 89] (the overflow edge)."""
    def bits(v):
        return int(np.float32(v).view(np.uint32))
    sign = np.uint32(0x80000000)
    parts = [np.arange(0, bits(89.0), 257, dtype=np.uint32),
             np.arange(0, bits(104.0), 257, dtype=np.uint32) | sign,
             np.arange(bits(87.0), bits(104.0), dtype=np.uint32) | sign,
             np.arange(bits(88.0), bits(89.0), dtype=np.uint32)]
    return np.concatenate(parts).view(np.float32)


def test_exp_float32_dense_grid(sc, isa):
    x = _float32_grid()
    y = _vector_exp(sc, x)
    want = np.exp(x.astype(np.float64))      # float64: ~2^-29 ulp of float32
    err = ref.ulp_error(y, want, np.float32)
    i = int(np.argmax(err))
    assert err[i] <= _exp_bound(isa), f"exp({x[i]!r}) = {y[i]!r}, want {want[i]!r}: {err[i]:.3g} ulp"
    # subnormal results are rounded, not flushed: nonzero down to 2^-149
    subnormal = (want >= 2.0 ** -149) & (want < 2.0 ** -126)
    assert subnormal.sum() > 1_000_000
    assert np.all(y[subnormal] > 0)


def test_exp_float64_random_points(sc, isa):
    rng = np.random.default_rng(7)
    x = np.concatenate([
        rng.uniform(-746.0, 710.0, 400_000),                 # the whole range
        rng.uniform(-745.2, -708.3, 200_000),                # subnormal results
        rng.uniform(709.0, 709.8, 20_000),                   # overflow edge
        np.sign(rng.standard_normal(200_000)) * 10.0 ** rng.uniform(-300, 2.8, 200_000),
    ])
    y = _vector_exp(sc, x)
    want = ref.exp(x)                                         # longdouble
    err = ref.ulp_error(y, want, np.float64)
    i = int(np.argmax(err))
    assert err[i] <= _exp_bound(isa), f"exp({x[i]!r}) = {y[i]!r}, want {want[i]!r}: {err[i]:.3g} ulp"
    assert np.all(y[want >= 2.0 ** -1074] > 0)               # subnormals not flushed


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_exp_special_values(sc, isa, dtype):
    fi = np.finfo(dtype)
    big = 89.0 if dtype == np.float32 else 710.0          # exp overflows
    tiny = -104.0 if dtype == np.float32 else -746.0      # exp rounds to 0
    x = np.array([-np.inf, np.inf, np.nan, 0.0, -0.0, big, -big, tiny,
                  fi.max, -fi.max, fi.tiny, -fi.tiny], dtype=dtype)
    y = _vector_exp(sc, x)
    want = np.array([0.0, np.inf, np.nan, 1.0, 1.0, np.inf, np.nan, 0.0,
                     np.inf, 0.0, 1.0, 1.0], dtype=dtype)
    want[6] = np.exp(-big)                                 # a normal number
    np.testing.assert_array_equal(y[[0, 1, 3, 4, 5, 7, 8, 9, 10, 11]],
                                  want[[0, 1, 3, 4, 5, 7, 8, 9, 10, 11]])
    assert np.isnan(y[2])
    assert ref.ulp_error(y[6:7], ref.exp(x[6:7]), dtype)[0] <= _exp_bound(isa)
