"""Issue 6: the C API checks its own arguments.  NULL pointers where data
must be read or written, negative lengths, sizes whose product overflows
int64, bad temperatures and thread counts give an SMC_ERR_* code (never a
crash), and a rejected call writes nothing.  Called through ctypes on the
extension module itself, which exports the C API.
"""

import ctypes

import numpy as np
import pytest

import softmax_c

OK, ERR_NULL, ERR_SIZE, ERR_VALUE = 0, -1, -2, -3
MAX_DIMS = 64
I64, P = ctypes.c_int64, ctypes.c_void_p
NULL = None
BIG = 2**62


class Grid(ctypes.Structure):
    _fields_ = [("n", I64), ("ndim", ctypes.c_int32), ("shape", I64 * MAX_DIMS)]


class Array(ctypes.Structure):
    _fields_ = [("data", P), ("step", I64), ("strides", I64 * MAX_DIMS)]


LIB = ctypes.CDLL(softmax_c._core.__file__)
DTYPES = {"f32": np.float32, "f64": np.float64}


def _fn(name, argtypes):
    f = getattr(LIB, name)
    f.restype, f.argtypes = ctypes.c_int, argtypes
    return f


ROW = [I64, P, P]
BATCH = [I64, I64, P, I64, I64, P, I64, I64, ctypes.c_double, ctypes.c_int]
BATCH_LSE = [I64, I64, P, I64, I64, P, I64, ctypes.c_int]
ND = [ctypes.POINTER(Grid), ctypes.POINTER(Array), ctypes.POINTER(Array), ctypes.c_double,
      ctypes.c_int]
ND_LSE = [ctypes.POINTER(Grid), ctypes.POINTER(Array), ctypes.POINTER(Array), ctypes.c_int]
WEIGHTED = [ctypes.POINTER(Grid)] + [ctypes.POINTER(Array)] * 4 + [ctypes.c_int]


class Buffers:
    """A 4 x 6 input and sentinel-filled outputs; `.untouched()` checks them."""

    def __init__(self, dt):
        self.dt = np.dtype(DTYPES[dt])
        self.x = np.linspace(-1, 1, 24).astype(self.dt).reshape(4, 6)
        self.y = np.full((4, 6), 7.0, self.dt)
        self.r = np.full(4, 7.0, self.dt)

    def ptr(self, name):
        return getattr(self, name).ctypes.data

    def untouched(self):
        return bool(np.all(self.y == 7.0) and np.all(self.r == 7.0))


def _grid(n=6, shape=(4,)):
    g = Grid()
    g.n, g.ndim = n, len(shape)
    for i, s in enumerate(shape):
        g.shape[i] = s
    return g


def _array(buf, name, step, strides=()):
    a = Array()
    a.data = buf.ptr(name) if name else None
    a.step = step
    for i, s in enumerate(strides):
        a.strides[i] = s
    return a


# ---- row and batch entry points ---------------------------------------------

def _row_cases(op):
    out = "r" if op == "logsumexp" else "y"
    cases = [
        ("negative-n", (-1, "x", out), ERR_SIZE),
        ("huge-negative-n", (-(2**63), "x", out), ERR_SIZE),
        ("null-x", (6, None, out), ERR_NULL),
        ("null-out", (6, "x", None), ERR_NULL),
        ("null-both", (6, None, None), ERR_NULL),
    ]
    if op == "logsumexp":        # an empty row still has a result: -inf
        cases.append(("empty-row-null-result", (0, None, None), ERR_NULL))
    else:
        cases.append(("empty-row-null-pointers", (0, None, None), OK))
    return cases


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_row_entry_points(op, dt):
    fn = _fn(f"smc_{op}_row_{dt}", ROW)
    for what, (n, x, y), code in _row_cases(op):
        b = Buffers(dt)
        rc = fn(n, b.ptr(x) if x else None, b.ptr(y) if y else None)
        assert rc == code, f"{what}: {rc} != {code}"
        if code != OK:
            assert b.untouched(), f"{what}: output written by a rejected call"


def _batch_cases(op, dt):
    es = np.dtype(DTYPES[dt]).itemsize
    row = 6 * es
    good = dict(rows=4, n=6, x="x", xrs=row, xs=es, y="y", yrs=row, ys=es, t=1.0, threads=0)
    cases = [
        ("negative-rows", dict(rows=-1), ERR_SIZE),
        ("negative-n", dict(n=-5), ERR_SIZE),
        ("rows-times-n-overflows", dict(rows=BIG, n=4), ERR_SIZE),
        ("null-x", dict(x=None), ERR_NULL),
        ("null-y", dict(y=None), ERR_NULL),
        ("negative-threads", dict(threads=-1), ERR_VALUE),
        ("zero-rows-null-pointers", dict(rows=0, x=None, y=None), OK),
        ("empty-rows-null-x", dict(n=0, x=None), OK),   # nothing to read
    ]
    if op != "logsumexp":
        cases += [(f"temperature-{t}", dict(t=t), ERR_VALUE)
                  for t in (0.0, -0.0, -1.0, float("nan"), float("inf"), -float("inf"), 5e-324)]
        if dt == "f32":          # 1/T overflows float32, or rounds to 0 there
            cases += [("temperature-1e-39", dict(t=1e-39), ERR_VALUE),
                      ("temperature-1e46", dict(t=1e46), ERR_VALUE)]
        cases.append(("temperature-tiny-but-ok", dict(t=2.0**-126 if dt == "f32" else 2.0**-1022), OK))
    return good, cases


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_batch_entry_points(op, dt):
    good, cases = _batch_cases(op, dt)
    if op == "logsumexp":
        fn = _fn(f"smc_logsumexp_{dt}", BATCH_LSE)
    else:
        fn = _fn(f"smc_{op}_{dt}", BATCH)
    for what, change, code in [("good", {}, OK)] + cases:
        a = {**good, **change}
        b = Buffers(dt)
        x = b.ptr(a["x"]) if a["x"] else None
        if op == "logsumexp":
            y = b.ptr("r") if a["y"] else None
            rc = fn(a["rows"], a["n"], x, a["xrs"], a["xs"], y, b.dt.itemsize, a["threads"])
        else:
            y = b.ptr(a["y"]) if a["y"] else None
            rc = fn(a["rows"], a["n"], x, a["xrs"], a["xs"], y, a["yrs"], a["ys"], a["t"],
                    a["threads"])
        assert rc == code, f"{what}: {rc} != {code}"
        if code != OK:
            assert b.untouched(), f"{what}: output written by a rejected call"


# ---- nd entry points ------------------------------------------------------------

def _nd_cases():
    return [
        ("null-grid", dict(g=None), ERR_NULL),
        ("null-x-struct", dict(x=None), ERR_NULL),
        ("null-y-struct", dict(y=None), ERR_NULL),
        ("null-x-data", dict(xdata=None), ERR_NULL),
        ("null-y-data", dict(ydata=None), ERR_NULL),
        ("negative-n", dict(n=-1), ERR_SIZE),
        ("negative-ndim", dict(ndim=-1), ERR_SIZE),
        ("ndim-too-large", dict(ndim=MAX_DIMS + 1), ERR_SIZE),
        ("ndim-int32-min", dict(ndim=-(2**31)), ERR_SIZE),
        ("negative-extent", dict(shape=(4, -2)), ERR_SIZE),
        ("extents-overflow", dict(shape=(BIG, BIG)), ERR_SIZE),
        ("extents-times-n-overflow", dict(shape=(BIG,), n=4), ERR_SIZE),
        ("zero-extent-null-data", dict(shape=(0, 5), xdata=None, ydata=None), OK),
        ("negative-threads", dict(threads=-7), ERR_VALUE),
    ]


def _nd_args(b, dt, change, out_name):
    es = b.dt.itemsize
    shape = change.get("shape", (4,))
    g = _grid(change.get("n", 6), shape)
    if "ndim" in change:
        g.ndim = change["ndim"]
    strides = [6 * es] * len(shape)
    x = _array(b, "x" if change.get("xdata", 1) else None, es, strides)
    y = _array(b, out_name if change.get("ydata", 1) else None,
               es if out_name == "y" else 0, strides if out_name == "y" else [es] * len(shape))
    gp = None if "g" in change else ctypes.byref(g)
    xp = None if "x" in change else ctypes.byref(x)
    yp = None if "y" in change else ctypes.byref(y)
    return gp, xp, yp, change.get("threads", 0)


@pytest.mark.parametrize("dt", DTYPES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_nd_entry_points(op, dt):
    lse = op == "logsumexp"
    fn = _fn(f"smc_{op}_nd_{dt}", ND_LSE if lse else ND)
    for what, change, code in [("good", {}, OK)] + _nd_cases():
        b = Buffers(dt)
        g, x, y, threads = _nd_args(b, dt, change, "r" if lse else "y")
        rc = fn(g, x, y, threads) if lse else fn(g, x, y, 1.0, threads)
        assert rc == code, f"{what}: {rc} != {code}"
        if code != OK:
            assert b.untouched(), f"{what}: output written by a rejected call"


@pytest.mark.parametrize("dt", DTYPES)
def test_weighted_logsumexp_entry_point(dt):
    fn = _fn(f"smc_logsumexp_weighted_nd_{dt}", WEIGHTED)
    cases = _nd_cases() + [("null-b-struct", dict(bstruct=None), ERR_NULL),
                           ("null-b-data", dict(bdata=None), ERR_NULL)]
    for what, change, code in [("good", {}, OK)] + cases:
        b = Buffers(dt)
        g, x, y, threads = _nd_args(b, dt, change, "r")
        es = b.dt.itemsize
        w = _array(b, "x" if change.get("bdata", 1) else None, es,
                   [6 * es] * len(change.get("shape", (4,))))
        wp = None if "bstruct" in change else ctypes.byref(w)
        rc = fn(g, x, wp, y, None, threads)
        assert rc == code, f"{what}: {rc} != {code}"
        if code != OK:
            assert b.untouched(), f"{what}: output written by a rejected call"


# ---- the rest ----------------------------------------------------------------------

@pytest.mark.parametrize("dt", DTYPES)
def test_exp_entry_point(dt):
    fn = _fn(f"smc_exp_{dt}", ROW)
    b = Buffers(dt)
    assert fn(-1, b.ptr("x"), b.ptr("y")) == ERR_SIZE
    assert fn(3, None, b.ptr("y")) == ERR_NULL
    assert fn(3, b.ptr("x"), None) == ERR_NULL
    assert b.untouched()
    assert fn(0, None, None) == OK


def test_runtime_entry_points():
    set_isa = _fn("smc_set_isa", [ctypes.c_char_p])
    available = _fn("smc_isa_available", [ctypes.c_char_p])
    set_threads = _fn("smc_set_num_threads", [ctypes.c_int])
    get_threads = _fn("smc_get_num_threads", [])
    active = LIB.smc_active_isa
    active.restype = ctypes.c_char_p
    before_isa, before_threads = active(), get_threads()
    assert set_isa(None) == ERR_VALUE
    assert set_isa(b"no-such-isa") == ERR_VALUE
    assert set_isa(b"") == ERR_VALUE
    assert available(None) == 0 and available(b"no-such-isa") == 0
    assert set_threads(0) == ERR_VALUE and set_threads(-(2**31)) == ERR_VALUE
    assert active() == before_isa and get_threads() == before_threads
