"""Every public softmax_c op against a NumPy float64 reference, on a few
small arrays: a short smoke test for runs under CPU emulation
(scripts/test_old_cpus.sh), where the full suite would take too long.

    python scripts/smoke_ops.py [--expect-isa NAME]

Prints the active kernel variant and one line per op and dtype; exits 1 on
a wrong result, or when the variant is not NAME.  Ops added to the package
later (cross_entropy, softmax_backward, log_softmax_backward) are checked
when the installed package has them.
"""
import sys

import numpy as np

import softmax_c

# A smoke test catches wrong code paths (garbage, NaN, a wrong variant),
# not last-ulp drift: 64 ulp of the output dtype, scaled as tests/checks.py
# does (relative for softmax values; |value| + log(n) + 1 for log-scale ones).
ULPS = 64


def _softmax(x, axis):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _logsumexp(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return np.squeeze(m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True)), axis=axis)


def _log_softmax(x, axis):
    return x - np.expand_dims(_logsumexp(x, axis), axis)


def _close(got, ref, scale, dtype):
    err = np.abs(np.asarray(got, np.float64) - ref)
    return bool(np.all(err <= ULPS * np.finfo(dtype).eps * scale))


def _check_elementwise(op, ref_fn, x, axis, dtype):
    got = getattr(softmax_c, op)(x, axis=axis)
    ref = ref_fn(x.astype(np.float64), axis)
    if op == "softmax":
        scale = np.abs(ref) + np.finfo(dtype).tiny
    else:
        scale = np.abs(ref) + np.log(x.shape[axis]) + 1.0
    return got.dtype == dtype and _close(got, ref, scale, dtype)


def _check_logsumexp(x, axis, dtype):
    got = softmax_c.logsumexp(x, axis=axis)
    ref = _logsumexp(x.astype(np.float64), axis)
    return got.dtype == dtype and _close(got, ref, np.abs(ref) + np.log(x.shape[axis]) + 1.0, dtype)


def _check_cross_entropy(x, axis, dtype, rng):
    x = np.moveaxis(x, axis, -1)
    target = rng.integers(0, x.shape[-1], size=x.shape[:-1])
    loss, grad = softmax_c.cross_entropy(x, target, reduction="none", return_grad=True)
    x64 = x.astype(np.float64)
    picked = np.take_along_axis(x64, target[..., None], axis=-1)[..., 0]
    ref_loss = _logsumexp(x64, -1) - picked
    onehot = np.zeros_like(x64)
    np.put_along_axis(onehot, target[..., None], 1.0, axis=-1)
    ref_grad = _softmax(x64, -1) - onehot
    scale = np.abs(ref_loss) + np.log(x.shape[-1]) + 1.0
    return _close(loss, ref_loss, scale, dtype) and _close(grad, ref_grad, 1.0, dtype)


def _check_backward(op, x, axis, dtype, rng):
    dy = rng.standard_normal(x.shape).astype(dtype)
    x64, dy64 = x.astype(np.float64), dy.astype(np.float64)
    if op == "softmax_backward":
        y = softmax_c.softmax(x, axis=axis)
        y64 = y.astype(np.float64)
        ref = y64 * (dy64 - (dy64 * y64).sum(axis=axis, keepdims=True))
    else:
        y = softmax_c.log_softmax(x, axis=axis)
        y64 = y.astype(np.float64)
        ref = dy64 - np.exp(y64) * dy64.sum(axis=axis, keepdims=True)
    got = getattr(softmax_c, op)(y, dy, axis=axis)
    scale = np.abs(dy64).sum(axis=axis, keepdims=True) + 1.0
    return _close(got, ref, scale, dtype)


def main(argv):
    expect = argv[argv.index("--expect-isa") + 1] if "--expect-isa" in argv else None
    info = softmax_c.cpu_info()
    print(f"softmax_c {softmax_c.__version__}: active variant {info['isa']} "
          f"(available {info['available']}, compiled {info['compiled']})")
    rng = np.random.default_rng(2024)
    ok = True
    for dtype in (np.float32, np.float64):
        # odd sizes: vector bodies and tails; axis 0 takes the strided path
        x = (rng.standard_normal((37, 259)) * 4.0).astype(dtype)
        results = {}
        for axis in (-1, 0):
            checks = {
                "softmax": _check_elementwise("softmax", _softmax, x, axis, dtype),
                "log_softmax": _check_elementwise("log_softmax", _log_softmax, x, axis, dtype),
                "logsumexp": _check_logsumexp(x, axis, dtype),
            }
            if hasattr(softmax_c, "cross_entropy"):
                checks["cross_entropy"] = _check_cross_entropy(x, axis, dtype, rng)
            for op in ("softmax_backward", "log_softmax_backward"):
                if hasattr(softmax_c, op):
                    checks[op] = _check_backward(op, x, axis, dtype, rng)
            for op, passed in checks.items():
                results[op] = results.get(op, True) and passed
        for op, passed in results.items():
            print(f"  {op:22s} {np.dtype(dtype).name:8s} {'PASS' if passed else 'FAIL'}")
            ok &= passed
    if expect is not None and info["isa"] != expect:
        print(f"FAIL: expected the {expect} variant, got {info['isa']}")
        ok = False
    print("smoke: PASS" if ok else "smoke: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
