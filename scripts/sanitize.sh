#!/usr/bin/env bash
# Build softmax_c with AddressSanitizer + UndefinedBehaviorSanitizer (gcc)
# in a separate tree and run the test suite against that build.  Any
# sanitizer report fails the run (reports go to $OUT/logs, or -- UBSan
# ignores log_path in gcc 12 -- to stderr, kept in $OUT/pytest.stderr;
# pytest runs with -s so that a report that aborts it is not swallowed by
# its output capture).
#
#   scripts/sanitize.sh                 the whole test suite
#   scripts/sanitize.sh --quick         the reduced CI selection: every op,
#                                       dtype and available ISA variant
#   scripts/sanitize.sh [--quick] -- ARGS   extra pytest arguments
#
# Environment: PYTHON (default python3), CC (default gcc), SANITIZE_DIR
# (default build/sanitize).  Nothing outside SANITIZE_DIR is touched: the
# normal in-place build stays as it is.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python3}
CC=${CC:-gcc}
OUT=${SANITIZE_DIR:-$ROOT/build/sanitize}
TREE=$OUT/tree
LOGS=$OUT/logs

QUICK=0
PYTEST_ARGS=()
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --) shift; PYTEST_ARGS+=("$@"); break ;;
        *) PYTEST_ARGS+=("$1") ;;
    esac
    shift
done

# The reduced selection: bad input, odd buffers, special values, layouts,
# the C-API argument checks and the differential fuzz test (its default
# 300 examples per variant: a few seconds under ASan), all over every
# variant the `isa` fixture finds.  Left out:
# the long accuracy/threads workloads (same code paths, 10-100x the time
# under ASan), the >2^31-element loop (minutes under ASan), and -- to keep
# CI's time -- the timing-ratio test and the long rows at extreme
# temperatures (the full run has them).
QUICK_SELECTION=(
    tests/test_bad_input.py tests/test_odd_buffers.py tests/test_special.py
    tests/test_layouts.py tests/test_errors.py tests/test_capi_checks.py
    tests/test_fuzz_differential.py tests/test_concurrency.py
    -k "not longer_than_int32 and not more_than_int32 and not gil_is_released and not is_not_quadratic and not extreme_temperature_long_rows"
)

SAN_FLAGS="-fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all -fno-omit-frame-pointer -g"

echo "== sanitize: copying the sources to $TREE"
rm -rf "$TREE" "$LOGS"
mkdir -p "$TREE" "$LOGS"
for item in setup.py pyproject.toml src softmax_c tests; do
    [ -e "$ROOT/$item" ] && cp -r "$ROOT/$item" "$TREE/"
done
find "$TREE" \( -name '*.so' -o -name '*.o' -o -name '__pycache__' \) -prune -exec rm -rf {} +
rm -f "$TREE/softmax_c/_core.c"
touch "$TREE/README.md"        # pyproject names it

echo "== sanitize: building with $CC $SAN_FLAGS"
(cd "$TREE" && CC="$CC" LDSHARED="$CC -shared" CFLAGS="$SAN_FLAGS" LDFLAGS="$SAN_FLAGS" \
    "$PY" setup.py -q build_ext --inplace >"$OUT/build.log" 2>&1) || {
    tail -40 "$OUT/build.log"; echo "sanitize: build failed"; exit 1; }

# Python itself is not instrumented, so the ASan runtime must be loaded first.
LIBASAN=$("$CC" -print-file-name=libasan.so)
LIBUBSAN=$("$CC" -print-file-name=libubsan.so)
SAN_ENV=(
    "LD_PRELOAD=$LIBASAN $LIBUBSAN"
    # CPython's own allocations look like leaks at exit: not ours to judge
    "ASAN_OPTIONS=detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1:log_path=$LOGS/asan"
    "UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:log_path=$LOGS/ubsan"
    "PYTHONPATH=$TREE"
    "PYTHONDONTWRITEBYTECODE=1"
)

run_python() { (cd "$TREE" && env "${SAN_ENV[@]}" "$PY" "$@"); }

echo "== sanitize: checking the build is instrumented and ASan catches an overflow"
run_python - <<'EOF'
import softmax_c, sys
path = softmax_c._core.__file__
assert path.startswith(sys.path[0]) or "/tree/" in path, path
with open(path, "rb") as f:
    blob = f.read()
assert b"__asan_report" in blob and b"__ubsan_handle" in blob, "not instrumented"
print("   module:", path)
EOF
# Canary: a deliberate 4-element overflow through the C API must be caught,
# or a clean run below would prove nothing.
if run_python - >/dev/null 2>&1 <<'EOF'
import ctypes, numpy as np, softmax_c
lib = ctypes.CDLL(softmax_c._core.__file__)
x = np.zeros(16, np.float32)
y = np.zeros(16, np.float32)
p = ctypes.c_void_p
lib.smc_softmax_row_f32(ctypes.c_int64(20), p(x.ctypes.data), p(y.ctypes.data))
EOF
then
    echo "sanitize: the canary overflow was NOT detected; the setup is broken"; exit 1
fi
if ! grep -qs "heap-buffer-overflow" "$LOGS"/asan.*; then
    echo "sanitize: canary ran but no heap-buffer-overflow report in $LOGS"; exit 1
fi
echo "   canary overflow detected (as it must be)"
rm -f "$LOGS"/*

if [ "$QUICK" = 1 ]; then
    SELECTION=("${QUICK_SELECTION[@]}")
else
    SELECTION=(tests)
fi
echo "== sanitize: pytest ${SELECTION[*]} ${PYTEST_ARGS[*]:-}"
START=$(date +%s)
set +e
run_python -m pytest -q -s -p no:cacheprovider "${SELECTION[@]}" "${PYTEST_ARGS[@]}" \
    2> >(tee "$OUT/pytest.stderr" >&2)
STATUS=$?
set -e
sleep 1     # let tee finish writing
echo "== sanitize: pytest exit status $STATUS after $(( $(date +%s) - START )) s"

SAN_PATTERN="runtime error:|ERROR: AddressSanitizer|ERROR: LeakSanitizer|SUMMARY: [A-Za-z]*Sanitizer"
if grep -Eq "$SAN_PATTERN" "$OUT/pytest.stderr"; then
    echo "sanitize: sanitizer report(s) on stderr ($OUT/pytest.stderr):"
    grep -E -A20 "$SAN_PATTERN" "$OUT/pytest.stderr" | head -80
    exit 1
fi

REPORTS=$(ls "$LOGS" 2>/dev/null | wc -l)
if [ "$REPORTS" -gt 0 ]; then
    echo "sanitize: $REPORTS sanitizer report file(s):"
    for f in "$LOGS"/*; do echo "--- $f"; head -60 "$f"; done
    exit 1
fi
echo "== sanitize: zero sanitizer reports"
exit $STATUS
