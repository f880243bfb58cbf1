"""Issue 6, odd buffers: unaligned, byte-swapped, zero/negative/odd strides,
64-bit sizes, out overlapping the input, read-only memory maps.  Each gives
the right result (checked against the longdouble reference) and, where the
same computation can be run on an ordinary buffer with the same layout,
the bitwise identical result.
"""

import math
import time

import numpy as np
import pytest

try:
    from numpy.lib.array_utils import byte_bounds
except ImportError:      # NumPy < 2
    from numpy import byte_bounds

from robust_ops import FLOAT_DTYPES, OPS, assert_bitwise_equal

DTYPE_IDS = ["f32", "f64"]
# (shape, axis): row mode, column mode (reduced axis strided, rows adjacent),
# a 3-d middle axis, and a row long enough for the split-row mode
LAYOUTS = [((7, 37), -1), ((37, 9), 0), ((3, 21, 10), 1), ((2, 70_000), -1)]
LAYOUT_IDS = ["rows", "columns", "middle", "long-rows"]


def _data(rng, shape, dtype):
    return (rng.standard_normal(shape) * 4).astype(dtype)


def _unaligned_empty(shape, dtype, offset=1):
    """A writeable array whose data starts `offset` bytes past an aligned address."""
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dtype.itemsize
    buf = np.zeros(nbytes + 64, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    a = buf[start:start + nbytes].view(dtype).reshape(shape) if nbytes else \
        np.ndarray(shape, dtype, buffer=buf, offset=start)
    return a


def _unaligned_copy(x, offset=1):
    a = _unaligned_empty(x.shape, x.dtype, offset)
    a[...] = x
    return a


def same_layout_copy(x):
    """A copy of x in new memory with x's exact strides (so the kernels walk
    it the same way and must give bitwise the same result)."""
    lo, hi = byte_bounds(x)
    buf = np.empty(hi - lo + 32, np.uint8)
    # same alignment modulo 16 as x, too
    offset = (-buf.ctypes.data) % 16 + lo % 16 + (x.ctypes.data - lo)
    y = np.ndarray(x.shape, x.dtype, buffer=buf, offset=offset, strides=x.strides)
    y[...] = x
    return y


def _run(op, x, axis, **kw):
    return op(x, axis=axis, **kw)


def _out_for(op, x, axis):
    return np.empty(op.out_shape(x.shape, axis), x.dtype)


# ---- alignment --------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", LAYOUTS, ids=LAYOUT_IDS)
@pytest.mark.parametrize("dtype, offset", [(np.float32, k) for k in (1, 2, 3)]
                         + [(np.float64, k) for k in (1, 4, 7)],
                         ids=lambda v: v if isinstance(v, int) else np.dtype(v).name)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_unaligned_input_and_out(isa, rng, op, dtype, offset, shape, axis):
    x = _data(rng, shape, dtype)
    want = _run(op, x, axis)
    xu = _unaligned_copy(x, offset)
    assert not xu.flags.aligned
    assert_bitwise_equal(_run(op, xu, axis), want, "unaligned x")
    out = _unaligned_empty(op.out_shape(shape, axis), dtype, offset)
    assert not out.flags.aligned or out.size == 0
    assert _run(op, xu, axis, out=out) is out
    assert_bitwise_equal(out, want, "unaligned x and out")
    out2 = _unaligned_empty(op.out_shape(shape, axis), dtype, offset)
    _run(op, x, axis, out=out2)
    assert_bitwise_equal(out2, want, "unaligned out")
    op.reference_check(x, want, axis=axis)


# ---- byte order -------------------------------------------------------------

@pytest.mark.parametrize("shape, axis", LAYOUTS[:3], ids=LAYOUT_IDS[:3])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_byte_swapped_input(isa, rng, op, dtype, shape, axis):
    x = _data(rng, shape, dtype)
    swapped = x.astype(x.dtype.newbyteorder())
    assert not swapped.dtype.isnative
    got = _run(op, swapped, axis)
    assert got.dtype.isnative and got.dtype == np.dtype(dtype)
    assert_bitwise_equal(got, _run(op, x, axis), "byte-swapped x")
    # a swapped *and* unaligned, strided input
    raw = _unaligned_copy(np.repeat(swapped, 2, axis=-1), 1)[..., ::2]
    assert_bitwise_equal(_run(op, raw, axis), _run(op, x, axis), "swapped, unaligned, strided")


# ---- strides ---------------------------------------------------------------

def _zero_stride_views(rng, dtype):
    v = _data(rng, (13,), dtype)
    return {
        "rows-broadcast": (np.broadcast_to(v, (6, 13)), -1),       # outer stride 0
        "row-step-0": (np.broadcast_to(v[:, None], (13, 6)), -1),  # element step 0
        "column-step-0": (np.broadcast_to(v, (6, 13)), 0),
        "all-zero": (np.broadcast_to(v[3], (5, 9)), -1),
        "all-zero-axis-none": (np.broadcast_to(v[3], (5, 9)), None),
        "3d-mixed": (np.broadcast_to(v[None, :, None], (4, 13, 3)), 1),
    }


@pytest.mark.parametrize("case", ["rows-broadcast", "row-step-0", "column-step-0", "all-zero",
                                  "all-zero-axis-none", "3d-mixed"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_zero_strides(isa, rng, op, dtype, case):
    x, axis = _zero_stride_views(rng, dtype)[case]
    assert 0 in x.strides
    got = _run(op, x, axis)
    op.reference_check(x, got, axis=axis)
    # the kernels never see a copy: same values as a materialised array
    # walked the same way (row mode both), or within the contract otherwise
    dense = np.ascontiguousarray(x)
    if axis in (-1, None):
        assert_bitwise_equal(got, _run(op, dense, axis), "zero strides vs dense")


@pytest.mark.parametrize("view", ["rows-reversed", "cols-reversed", "both-reversed",
                                  "reversed-step-3", "transposed-reversed"])
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_negative_strides(isa, rng, op, dtype, axis, view):
    base = _data(rng, (17, 40), dtype)
    x = {"rows-reversed": base[::-1], "cols-reversed": base[:, ::-1],
         "both-reversed": base[::-1, ::-1], "reversed-step-3": base[::-2, ::-3],
         "transposed-reversed": base.T[::-1]}[view]
    got = _run(op, x, axis)
    op.reference_check(x, got, axis=axis)
    # out with negative strides too
    shape = op.out_shape(x.shape, axis)
    out = np.full(shape[:-1] + (2 * shape[-1],), -7.0, dtype)[..., ::-2]
    if out.ndim > 1:
        out = out[::-1]
    assert all(s < 0 for s in out.strides)
    _run(op, x, axis, out=out)
    assert_bitwise_equal(out, got, "negative-stride out")


def _packed_field(rng, shape, dtype, pad="u1"):
    """The float field of a packed structured array: stride itemsize + 1."""
    rec = np.zeros(shape, np.dtype([("pad", pad), ("v", dtype)]))   # packed: no padding
    rec["v"] = _data(rng, shape, dtype)
    return rec["v"]


@pytest.mark.parametrize("pad", ["u1", "u2", "V3", "V9"])
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_strides_not_a_multiple_of_the_itemsize(isa, rng, op, dtype, axis, pad):
    x = _packed_field(rng, (11, 23), dtype, pad)
    assert x.strides[-1] % x.itemsize != 0
    got = _run(op, x, axis)
    op.reference_check(x, got, axis=axis)
    # out a packed field as well
    out = _packed_field(rng, op.out_shape(x.shape, axis), dtype, pad)
    _run(op, x, axis, out=out)
    assert_bitwise_equal(out, got, "packed-field out")


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_self_overlapping_input_elements(isa, rng, op, dtype):
    # a read-only view whose elements overlap each other (3-byte steps):
    # odd, but the result must be that of the values it shows (any bit
    # patterns, so NaN and inf too)
    raw = rng.integers(0, 256, 608, dtype=np.uint8).tobytes()
    x = np.ndarray((9, 40), np.dtype(dtype), buffer=raw, offset=0, strides=(50, 3))
    got = _run(op, x, -1)
    want = _run(op, np.array(x), -1)
    assert_bitwise_equal(got, want, "overlapping-element view vs its copy")


# ---- 64-bit sizes ----------------------------------------------------------

BIG = 2**31 + 7


def test_zero_stride_row_longer_than_int32(sc):
    # 2**31 + 7 elements of a 4-byte broadcast view: no memory, and any
    # int32 length, index or byte offset in the kernels or wrapper would wrap
    v = np.float32(0.75)
    x = np.broadcast_to(v, (BIG,))
    start = time.perf_counter()
    got = sc.logsumexp(x)
    elapsed = time.perf_counter() - start
    want = 0.75 + math.log(BIG)               # = 22.237..., exact to < 1e-15
    assert got.dtype == np.float32
    # float32 result: within 2 ulp (rounding of the sum and of m + log(sum))
    assert abs(float(got) - want) <= 2 * np.spacing(np.float32(want)), (float(got), want)
    print(f"\nlogsumexp over {BIG} zero-stride float32 elements: {elapsed:.2f} s")
    assert elapsed < 60, f"too slow: {elapsed:.1f} s"


def test_zero_stride_2d_reduced_whole_more_than_int32(sc):
    # axis=None merges two axes (a view: zero strides merge); 2**31 + 2**15
    x = np.broadcast_to(np.float32(-1.5), (2**16 + 1, 2**15))
    n = x.size
    got = sc.logsumexp(x, axis=None)
    want = -1.5 + math.log(n)
    assert abs(float(got) - want) <= 2 * np.spacing(np.float32(want)), (float(got), want)



@pytest.mark.parametrize("op", [op for op in OPS if op.writes_input_shape], ids=repr)
def test_column_mode_out_with_a_wide_lane_stride_is_not_quadratic(isa, rng, op):
    # fuzz finding (slow unit, 59 s): reducing axis 0 of a C-order array into
    # the transpose of a C-order out (out's neighbouring rows n * 8 bytes
    # apart) prefetched every cache line between the lanes' elements, k *
    # n * 8 / 64 prefetches per step: 20000 x 64 took 1.1 s, 400x the time
    # with a contiguous out.  Now each lane's line: within a few x.
    n = 20_000
    x = _data(rng, (n, 64), np.float64)
    wide = np.empty((64, n)).T
    dense = np.empty((n, 64))

    def best(out):
        times = []
        for _ in range(3):
            start = time.perf_counter()
            op(x, axis=0, out=out, threads=1)
            times.append(time.perf_counter() - start)
        return min(times)

    t_dense, t_wide = best(dense), best(wide)
    # (softmax into a dense out takes another exact path: not bitwise the same)
    op.reference_check(x, wide, axis=0)
    assert t_wide < 20 * t_dense + 0.01, f"{t_wide * 1e3:.1f} ms vs {t_dense * 1e3:.1f} ms"

@pytest.mark.parametrize("op", OPS, ids=repr)
def test_empty_arrays_with_huge_extents(op):
    # no memory either way; the shape arithmetic must not wrap
    x = np.empty((BIG, 0), np.float32)
    got = op(x, axis=0)
    assert got.shape == op.out_shape(x.shape, 0)
    if op.writes_input_shape:
        got = op(np.empty((0, BIG), np.float32), axis=-1)
        assert got.shape == (0, BIG)


# ---- out overlapping the input ------------------------------------------------

def _strided_shifted(data):
    """x every other element of a buffer; out the same, one x-step later."""
    r, n = data.shape
    w = np.zeros((r, 2 * n + 2), data.dtype)
    x, out = w[:, 0:2 * n:2], w[:, 2:2 * n + 2:2]
    x[...] = data
    return x, out


def _overlap_cases(dtype, rng, shape=(12, 12)):
    """(name, x, out factory) with out sharing memory with x, for same-shape ops."""
    r, n = shape
    flat = _data(rng, (r + 1) * n + 1, dtype)
    return {
        "identical": lambda: (lambda x: (x, x))(flat[:r * n].reshape(r, n).copy()),
        "out-one-row-ahead": lambda: (lambda b: (b[:-1], b[1:]))(flat[:(r + 1) * n].reshape(r + 1, n).copy()),
        "out-one-row-behind": lambda: (lambda b: (b[1:], b[:-1]))(flat[:(r + 1) * n].reshape(r + 1, n).copy()),
        "out-one-element-ahead": lambda: (lambda f: (f[:r * n].reshape(r, n), f[1:r * n + 1].reshape(r, n)))(flat.copy()),
        "out-rows-reversed": lambda: (lambda x: (x, x[::-1]))(flat[:r * n].reshape(r, n).copy()),
        "out-cols-reversed": lambda: (lambda x: (x, x[:, ::-1]))(flat[:r * n].reshape(r, n).copy()),
        "out-fully-reversed": lambda: (lambda x: (x, x[::-1, ::-1]))(flat[:r * n].reshape(r, n).copy()),
        "out-transposed": lambda: (lambda x: (x, x.T))(flat[:r * n].reshape(r, n).copy()),
        "out-transposed-reversed": lambda: (lambda x: (x, x.T[::-1]))(flat[:r * n].reshape(r, n).copy()),
        "x-strided-out-one-step-ahead": lambda: _strided_shifted(flat[:r * n].reshape(r, n)),
    }


_SAME_SHAPE_OVERLAPS = list(_overlap_cases(np.float32, np.random.default_rng(0)))


@pytest.mark.parametrize("case", _SAME_SHAPE_OVERLAPS)
@pytest.mark.parametrize("axis", [0, -1])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", [op for op in OPS if op.writes_input_shape], ids=repr)
def test_out_overlapping_x_equals_separate_out(isa, rng, op, dtype, axis, case):
    x, out = _overlap_cases(dtype, rng)[case]()
    assert np.shares_memory(x, out)
    want = _run(op, same_layout_copy(x), axis)
    assert _run(op, x, axis, out=out) is out
    assert_bitwise_equal(out, want, f"{case}")


def _reduction_overlap_cases(dtype, rng, r=12, n=12):
    """(x, out) pairs for ops whose out has x's shape without the axis (axis=-1)."""
    def fresh():
        return _data(rng, (r, n), dtype)
    return {
        "out-first-column": lambda: (lambda x: (x, x[:, 0]))(fresh()),
        "out-last-column": lambda: (lambda x: (x, x[:, -1]))(fresh()),
        "out-first-column-reversed": lambda: (lambda x: (x, x[::-1, 0]))(fresh()),
        "out-first-row": lambda: (lambda x: (x, x[0]))(fresh()),
        "out-last-row-reversed": lambda: (lambda x: (x, x[-1, ::-1]))(fresh()),
        "out-diagonal": lambda: (lambda x: (x, np.lib.stride_tricks.as_strided(
            x, (r,), ((n + 1) * x.itemsize,))))(fresh()),
    }


@pytest.mark.parametrize("case", list(_reduction_overlap_cases(np.float32, None)))
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", [op for op in OPS if not op.writes_input_shape], ids=repr)
def test_reduction_out_overlapping_x(isa, rng, op, dtype, case):
    x, out = _reduction_overlap_cases(dtype, rng)[case]()
    assert np.shares_memory(x, out)
    want = _run(op, same_layout_copy(x), -1)
    _run(op, x, -1, out=out)
    assert_bitwise_equal(out, want, case)


@pytest.mark.parametrize("case", ["first-column", "first-column-reversed", "last-row-reversed"])
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
def test_logsumexp_out_overlapping_weights(sc, isa, rng, dtype, case):
    # regression: out was only checked against x, so writing a row's result
    # into b clobbered weights of rows not yet read
    x = _data(rng, (12, 12), dtype)
    b = rng.uniform(0.5, 2.0, (12, 12)).astype(dtype)
    out = {"first-column": b[:, 0], "first-column-reversed": b[::-1, 0],
           "last-row-reversed": b[-1, ::-1]}[case]
    want_value, want_sign = sc.logsumexp(x, b=b.copy(), return_sign=True)
    value, sign = sc.logsumexp(x, b=b, out=out, return_sign=True)
    assert value is out
    assert_bitwise_equal(out, want_value, case)
    assert_bitwise_equal(sign, want_sign, case + " sign")


# ---- read-only memory -------------------------------------------------------

@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_read_only_memmap_input(op, rng, tmp_path, dtype):
    x = _data(rng, (33, 65), dtype)
    path = tmp_path / "x.bin"
    x.tofile(path)
    mm = np.memmap(path, dtype=dtype, mode="r", shape=x.shape)
    assert not mm.flags.writeable
    for axis in (0, -1):
        got = op(mm, axis=axis)
        assert_bitwise_equal(np.asarray(got), op(x, axis=axis), f"memmap axis={axis}")
        out = _out_for(op, x, axis)
        op(mm[::-1], axis=axis, out=out)
        assert_bitwise_equal(out, op(x[::-1], axis=axis), "memmap reversed view")
    del mm


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_read_only_np_load_mmap(op, rng, tmp_path):
    x = _data(rng, (8, 100), np.float32)
    np.save(tmp_path / "x.npy", x)
    mm = np.load(tmp_path / "x.npy", mmap_mode="r")
    assert_bitwise_equal(np.asarray(op(mm)), op(x), "np.load mmap")


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_read_only_bytes_buffer(op, rng):
    x = _data(rng, (5, 30), np.float64)
    ro = np.frombuffer(x.tobytes(), np.float64).reshape(x.shape)
    assert not ro.flags.writeable
    assert_bitwise_equal(np.asarray(op(ro)), op(x), "frombuffer(bytes)")
