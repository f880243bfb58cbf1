"""The public array operations as data, for the robustness tests (issue 6).

test_bad_input, test_odd_buffers, test_concurrency and
test_fuzz_differential run every test over ``OPS``.  Adding a public
function (cross-entropy, the backward passes) to all of them is one more
``Op`` entry here, plus rows in test_bad_input's table for arguments only
it has (targets, weight, reduction).  An entry says:

* how to call the op from one float input array ``x`` (the other arrays it
  needs, e.g. ``target`` or ``dy``, are built from ``x`` by ``extra``),
* the shape of its ``out`` array,
* which optional keywords it accepts (bad-input rows are matched on them),
* how to check a result (default: the longdouble reference of checks.py).
"""

from dataclasses import dataclass
from typing import Callable

import numpy as np

from checks import assert_result_matches_reference

try:
    import softmax_c
except ImportError:          # conftest reports this loudly through the sc fixture
    softmax_c = None


def _same_shape(shape, axis):
    return tuple(shape)


def _reduced_shape(shape, axis):
    """Shape of a reduction over `axis` (int, tuple or None) without keepdims."""
    if axis is None:
        return ()
    axes = axis if isinstance(axis, tuple) else (axis,)
    axes = {a % len(shape) for a in axes}
    return tuple(s for d, s in enumerate(shape) if d not in axes)


def _no_extra(x):
    return {}


def _reference_check(op_name):
    def check(x, got, axis=-1, temperature=1.0, extra_ulp=0.0):
        assert_result_matches_reference(op_name, x, got, axis=axis,
                                        temperature=temperature, extra_ulp=extra_ulp)
    return check


@dataclass(frozen=True)
class Op:
    name: str                                  # attribute of softmax_c
    out_shape: Callable                        # (x.shape, axis) -> shape of `out`
    options: frozenset = frozenset()           # optional keywords beyond axis/out/threads
    extra: Callable = _no_extra                # x -> other required arguments, by keyword
    input_name: str = "x"                      # what error messages call the input
    out_name: str = "out"
    check: Callable = None                     # (x, got, axis, **options) -> None or raise
    writes_input_shape: bool = True            # out has x's shape (in-place is possible)

    def __call__(self, x, axis=-1, **kwargs):
        return getattr(softmax_c, self.name)(x, axis=axis, **{**self.extra(x), **kwargs})

    def reference_check(self, x, got, axis=-1, **options):
        (self.check or _reference_check(self.name))(x, got, axis=axis, **options)

    def __repr__(self):
        return self.name


OPS = (
    Op("softmax", _same_shape, frozenset({"temperature"})),
    Op("log_softmax", _same_shape, frozenset({"temperature"})),
    Op("logsumexp", _reduced_shape, frozenset({"b", "keepdims", "return_sign"}),
       writes_input_shape=False),
    # Cross-entropy and the backward passes go here when they land, e.g.
    #   Op("softmax_backward", _same_shape, extra=lambda x: {"dy": x[::-1].copy()},
    #      input_name="y", check=<finite-difference or reference check>),
)
OPS_BY_NAME = {op.name: op for op in OPS}
FLOAT_DTYPES = (np.float32, np.float64)


def bits(a):
    """The bytes of a result, for bitwise comparison (NaN and -0.0 aware)."""
    a = np.ascontiguousarray(a)
    return a.dtype, a.shape, a.tobytes()


def assert_bitwise_equal(got, want, what=""):
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape and got.dtype == want.dtype, (
        f"{what}: {got.dtype}{got.shape} vs {want.dtype}{want.shape}")
    assert bits(got) == bits(want), (
        f"{what}: {np.count_nonzero(~((got == want) | (np.isnan(got) & np.isnan(want))))} "
        f"elements differ")
