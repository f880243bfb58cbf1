#!/usr/bin/env bash
# Coverage-guided fuzzing of the softmax_c C API with libFuzzer, ASan and
# UBSan (see fuzz/fuzz_capi.c for what each input exercises and checks).
#
#   fuzz/run.sh [seconds] [libFuzzer options...]     default: 60 seconds
#
# Builds build/fuzz/fuzz_capi with clang (installed with apt-get when
# missing), replays every input in fuzz/regressions/ (former crashes: each
# must now pass), then fuzzes for the given time, growing the corpus in
# build/fuzz/corpus (kept between runs; FUZZ_CORPUS overrides).  A crash
# leaves its input in build/fuzz/artifacts/ and fails the run; copy it to
# fuzz/regressions/ once fixed.  Prints executions and coverage at the end.
# An input running longer than FUZZ_TIMEOUT seconds (default 30; the
# slowest legitimate inputs take about 5 s) is a finding too: a slow path.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
SECONDS_TO_RUN=${1:-60}
shift || true
OUT=${FUZZ_DIR:-$ROOT/build/fuzz}
CORPUS=${FUZZ_CORPUS:-$OUT/corpus}
CC=${FUZZ_CC:-clang}
TIMEOUT=${FUZZ_TIMEOUT:-30}

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "== fuzz: $CC not found; installing clang"
    apt-get update -qq && apt-get install -y -qq clang >/dev/null
fi

mkdir -p "$OUT/obj" "$CORPUS" "$OUT/artifacts"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
BASE="-O1 -g -std=c11 -ffp-contract=off -fno-strict-aliasing -I$ROOT/src/include -I$ROOT/src"
LIB_FLAGS="$BASE $SAN -fsanitize=fuzzer-no-link"

echo "== fuzz: building with $CC"
objs=()
compile() {   # source, extra flags...
    local src=$1; shift
    local obj="$OUT/obj/$(echo "${src#$ROOT/}" | tr '/' '_').o"
    "$CC" $LIB_FLAGS "$@" -c "$src" -o "$obj"
    objs+=("$obj")
}
for src in "$ROOT"/src/core/*.c; do compile "$src"; done
compile "$ROOT/src/kernels/kernels.c"
if [ "$(uname -m)" = "x86_64" ]; then
    compile "$ROOT/src/kernels/kernels_avx2.c" -mavx2 -mfma
    compile "$ROOT/src/kernels/kernels_avx512.c" -mavx512f -mfma
fi
"$CC" $BASE $SAN -fsanitize=fuzzer "$ROOT/fuzz/fuzz_capi.c" "${objs[@]}" -lm -lpthread \
    -o "$OUT/fuzz_capi"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

shopt -s nullglob
regressions=("$ROOT"/fuzz/regressions/*)
if [ ${#regressions[@]} -gt 0 ]; then
    echo "== fuzz: replaying ${#regressions[@]} regression input(s)"
    "$OUT/fuzz_capi" -timeout="$TIMEOUT" "${regressions[@]}" > "$OUT/regressions.log" 2>&1 || {
        tail -40 "$OUT/regressions.log"; echo "fuzz: a regression input fails again"; exit 1; }
fi

echo "== fuzz: fuzzing for $SECONDS_TO_RUN s (corpus $CORPUS)"
set +e
"$OUT/fuzz_capi" "$CORPUS" -max_total_time="$SECONDS_TO_RUN" -max_len=4096 -timeout="$TIMEOUT" \
    -print_final_stats=1 -artifact_prefix="$OUT/artifacts/" "$@" > "$OUT/fuzz.log" 2>&1
STATUS=$?
set -e
grep -E "^#[0-9]+ +DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb" \
    "$OUT/fuzz.log" || true
echo "== fuzz: corpus: $(ls "$CORPUS" | wc -l) inputs; final coverage line:"
grep -E "^#[0-9]+" "$OUT/fuzz.log" | tail -1
if [ $STATUS -ne 0 ]; then
    tail -60 "$OUT/fuzz.log"
    echo "fuzz: FAILED (status $STATUS); the input is in $OUT/artifacts/"
    exit $STATUS
fi
echo "== fuzz: no findings"
