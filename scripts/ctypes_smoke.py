"""Call the C entry points inside a built softmax_c extension module through
ctypes, without importing NumPy or the module itself (NumPy needs a newer
CPU than the oldest ones worth testing; the kernels must not).

    python scripts/ctypes_smoke.py PATH/TO/_core.*.so [--expect-isa NAME]

Checks softmax, log_softmax and logsumexp of one float64 row against the
math module, prints the active variant, exits 1 on a mismatch or when the
variant is not NAME.  Used by scripts/test_old_cpus.sh under an emulated
Nehalem, to run the very objects a wheel ships.
"""
import ctypes
import math
import sys


def main(argv):
    lib = ctypes.CDLL(argv[0])
    expect = argv[argv.index("--expect-isa") + 1] if "--expect-isa" in argv else None
    lib.smc_active_isa.restype = ctypes.c_char_p
    isa = lib.smc_active_isa().decode()
    print(f"wheel extension {argv[0]}: active variant {isa}")

    n = 1003                                   # odd: vector body and tail
    values = [math.sin(i * 0.7) * 12.0 + (i % 5) for i in range(n)]
    row = (ctypes.c_double * n)(*values)
    out = (ctypes.c_double * n)()
    lse = ctypes.c_double()
    i64 = ctypes.c_int64
    m = max(values)
    s = math.fsum(math.exp(v - m) for v in values)
    ok = True

    # Bounds: 64 ulp of the value's scale; a smoke test looks for wrong code
    # paths, not last-ulp drift (the test suite pins that).
    def close(got, want, scale):
        return abs(got - want) <= 64 * sys.float_info.epsilon * scale

    ok &= lib.smc_softmax_row_f64(i64(n), row, out) == 0
    ok &= all(close(out[i], math.exp(values[i] - m) / s, out[i] + 1e-300) for i in range(n))
    ok &= lib.smc_log_softmax_row_f64(i64(n), row, out) == 0
    want_lse = m + math.log(s)
    ok &= all(close(out[i], values[i] - want_lse, abs(values[i] - want_lse) + math.log(n) + 1)
              for i in range(n))
    ok &= lib.smc_logsumexp_row_f64(i64(n), row, ctypes.byref(lse)) == 0
    ok &= close(lse.value, want_lse, abs(want_lse) + math.log(n) + 1)
    if expect is not None and isa != expect:
        print(f"FAIL: expected the {expect} variant")
        ok = False
    print("ctypes smoke: PASS" if ok else "ctypes smoke: FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
