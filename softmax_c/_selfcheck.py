"""The main job behind ``python -m softmax_c``.

1. what is running: version, CPU, kernel variant;
2. a self-check of every op and dtype against a NumPy float64 reference on
   built-in random data (PASS/FAIL per op);
3. a short timing table: softmax_c against hand-written NumPy and SciPy.
"""
import time

import numpy as np

import softmax_c


def _reference(op, x, axis):
    """Max-shifted formulas in long double (80-bit on x86: 11 bits more
    than float64, so the reference's own error is far below 1 ulp)."""
    xl = x.astype(np.longdouble)
    m = np.max(xl, axis=axis, keepdims=True)
    e = np.exp(xl - m)
    s = np.sum(e, axis=axis, keepdims=True)
    if op == "softmax":
        return e / s
    if op == "log_softmax":
        return (xl - m) - np.log(s)
    return np.squeeze(m + np.log(s), axis=axis)


def _max_ulp_error(got, ref):
    """Largest |got - ref| in units of the spacing of got's dtype at ref."""
    ref_t = ref.astype(got.dtype)
    spacing = np.spacing(np.abs(ref_t)).astype(np.longdouble)
    err = np.abs(got.astype(np.longdouble) - ref) / spacing
    return float(np.max(err[np.isfinite(ref)], initial=0.0))


# Error budgets in ulp, generous against the measured ~2-4 ulp: a FAIL
# here means a real defect, not noise.  log_softmax/logsumexp errors are
# measured against the scale |value| + log(n) + 1 (absolute error of a log).
_BUDGET_ULP = 16


def self_check(rng):
    ops = {"softmax": softmax_c.softmax, "log_softmax": softmax_c.log_softmax,
           "logsumexp": softmax_c.logsumexp}
    cases = [((300, 257), -1), ((64, 1000), 0), ((5, 7, 9), 1), ((1, 40000), -1)]
    ok_all = True
    print("Self-check against a NumPy float64 reference:")
    for name, fn in ops.items():
        worst = 0.0
        for dtype in (np.float32, np.float64):
            for shape, axis in cases:
                x = (rng.standard_normal(shape) * 4).astype(dtype)
                x.flat[::97] = -np.inf
                got = fn(x, axis=axis)
                ref = _reference(name, x, axis)
                if name == "softmax":
                    err = _max_ulp_error(got, ref)
                else:
                    scale = np.abs(ref) + np.log(x.shape[axis]) + 1
                    finite = np.isfinite(ref)
                    diff = np.abs(got.astype(np.longdouble)[finite] - ref[finite])
                    err = float(np.max(diff / np.spacing(scale[finite].astype(dtype)),
                                       initial=0))
                    if not np.array_equal(np.isneginf(got), np.isneginf(ref)):
                        err = np.inf
                worst = max(worst, err)
        ok = worst <= _BUDGET_ULP
        ok_all &= ok
        print(f"  {name:12s} {'PASS' if ok else 'FAIL'}  (worst {worst:.2f} ulp, "
              f"budget {_BUDGET_ULP})")
    return ok_all


def _median_time(fn, repeat=7):
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def timing_table(rng):
    try:
        import scipy.special as sps
    except ImportError:
        sps = None

    def numpy_softmax(x):
        e = np.exp(x - x.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True)

    print("\nTiming (median of 7, one call, float32, threads=1; ratio = softmax_c speed-up):")
    print(f"  {'shape':>12s} {'softmax_c':>10s} {'numpy':>10s} {'ratio':>6s} "
          f"{'scipy':>10s} {'ratio':>6s}")
    for shape in [(65536, 10), (4096, 1024), (64, 131072)]:
        x = rng.standard_normal(shape).astype(np.float32)
        t_c = _median_time(lambda: softmax_c.softmax(x, threads=1))
        t_np = _median_time(lambda: numpy_softmax(x))
        row = f"  {'x'.join(map(str, shape)):>12s} {t_c * 1e3:8.2f}ms {t_np * 1e3:8.2f}ms " \
              f"{t_np / t_c:5.1f}x"
        if sps is not None:
            t_sp = _median_time(lambda: sps.softmax(x, axis=-1))
            row += f" {t_sp * 1e3:8.2f}ms {t_sp / t_c:5.1f}x"
        print(row)


def main():
    info = softmax_c.cpu_info()
    print(f"softmax_c {softmax_c.__version__}")
    print(f"CPU: {info['cpu']}")
    print(f"kernel variant: {info['isa']} (available: {', '.join(info['available'])}; "
          f"compiled: {', '.join(info['compiled'])}); threads: {info['num_threads']}")
    rng = np.random.default_rng(2026)
    ok = self_check(rng)
    timing_table(rng)
    print("\nself-check:", "PASS" if ok else "FAIL")
    return 0 if ok else 1
