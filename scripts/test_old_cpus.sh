#!/usr/bin/env bash
# Proof that one build runs on older x86-64 CPUs: user-mode emulation with
# Debian's qemu-user (`qemu-x86_64 -cpu MODEL`), which raises SIGILL for any
# instruction the emulated model lacks.
#
#   scripts/test_old_cpus.sh [VENV | WHEEL]
#
#   VENV   a virtual environment with softmax_c installed from a wheel (e.g.
#          the one scripts/test_wheel.sh keeps with SOFTMAX_C_WHEEL_VENV)
#   WHEEL  a wheel to install into a fresh venv here
#   neither: dist/wheelhouse/softmax_c-*.whl, else a wheel built now
#
# Checks:
#   0. control: an AVX2 instruction dies with SIGILL on -cpu Nehalem, so
#      the emulator really enforces the model's instruction set;
#   1. -cpu Nehalem (SSE4.2, no AVX): the C example, built by the Makefile
#      with setup.py's per-object ISA flags, chooses "baseline", passes its
#      own checks for every variant it may run, and exits normally;
#   2. -cpu Nehalem: the wheel's own extension module, loaded with ctypes
#      (no NumPy, which needs a newer CPU), chooses "baseline" and computes
#      right;
#   3. -cpu Haswell (AVX2 + FMA, no AVX-512): the C example and the
#      installed wheel's Python smoke test (every op against NumPy) choose
#      "avx2" and compute right.
# Installs qemu-user with apt-get when missing; skips (exit 0, with a
# message) only where it cannot be installed or the host is not x86-64.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/softmax_c_oldcpu.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== [%3ds] %s\n' "$SECONDS" "$*"; }
fail() { echo "test_old_cpus.sh: FAIL: $*" >&2; exit 1; }
skip() { echo "test_old_cpus.sh: SKIPPED: $*"; exit 0; }

if [ "$(uname -m)" != x86_64 ] || [ "$(uname -s)" != Linux ]; then
    skip "needs an x86-64 Linux host (this is $(uname -s) $(uname -m))"
fi

step "qemu-user"
if ! command -v qemu-x86_64 > /dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
        apt-get update -qq > "$work/apt.log" 2>&1 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user >> "$work/apt.log" 2>&1 ||
            { tail -5 "$work/apt.log"; skip "apt-get could not install qemu-user"; }
    else
        skip "qemu-x86_64 is missing and cannot be installed here (needs root and apt-get)"
    fi
fi
qemu-x86_64 --version | head -1

# Runs "$@" under qemu with CPU model $1; leaves output in $work/out and
# fails loudly on a signal (128 + n: 132 is SIGILL).
emulate() {
    local cpu=$1; shift
    local rc=0
    qemu-x86_64 -cpu "$cpu" "$@" > "$work/out" 2>&1 || rc=$?
    # (qemu warns about model features TCG lacks that user code never
    # sees, such as x2apic or TSX: noise, left out of the log)
    grep -v "TCG doesn't support requested feature" "$work/out" || true
    if [ $rc -ge 128 ]; then
        fail "killed by signal $((rc - 128)) under -cpu $cpu (4 = SIGILL: illegal instruction): $*"
    fi
    [ $rc -eq 0 ] || fail "exit code $rc under -cpu $cpu: $*"
}
expect_isa() {   # expect_isa NAME: the output names NAME as the active variant
    grep -q "active ISA: $1\$\|active variant $1\b" "$work/out" ||
        fail "expected the $1 variant (output above)"
    echo "-> $1 variant chosen, results right, no illegal instruction"
}

step "control: an AVX2 instruction under -cpu Nehalem must raise SIGILL"
cat > "$work/avx2_probe.c" <<'EOF'
int main(void)
{
    /* one AVX2 instruction, in asm so that no compiler can fold it away */
    __asm__ volatile("vpaddd %%ymm0, %%ymm0, %%ymm0" ::: "xmm0");
    return 0;
}
EOF
cc -O1 "$work/avx2_probe.c" -o "$work/avx2_probe"
# (in a child shell, which reports the expected "Illegal instruction" to
# /dev/null instead of the log)
rc="$(bash -c 'qemu-x86_64 -cpu Nehalem "$1" > /dev/null 2>&1; echo $?' _ "$work/avx2_probe" 2> /dev/null)"
[ $rc -eq 132 ] || fail "the AVX2 probe under -cpu Nehalem exited $rc, not SIGILL (132): this qemu does not enforce the CPU model"
qemu-x86_64 -cpu Haswell "$work/avx2_probe" > /dev/null 2>&1 || fail "the AVX2 probe fails under -cpu Haswell"
echo "SIGILL on Nehalem, runs on Haswell: the emulator enforces the model"

step "C library and example, per-object ISA flags as in setup.py (make example)"
make -s -C "$root" example BUILD="$work/c" -j2 > "$work/make.log" 2>&1 ||
    { cat "$work/make.log"; fail "make example failed"; }
example="$work/c/softmax_example"

step "1. C example under -cpu Nehalem"
emulate Nehalem "$example"
expect_isa baseline

step "wheel to test"
target="${1:-}"
if [ -z "$target" ]; then
    target="$(ls "$root"/dist/wheelhouse/softmax_c-*.whl 2> /dev/null | head -1 || true)"
fi
if [ -n "$target" ] && [ -x "$target/bin/python" ]; then
    venv="$target"
else
    if [ -z "$target" ]; then
        echo "no wheel given or in dist/wheelhouse: building one"
        "$python" -m pip wheel --quiet --no-deps --wheel-dir "$work/wheel" "$root"
        target="$(ls "$work"/wheel/softmax_c-*.whl)"
    fi
    [ -f "$target" ] || fail "not a venv or a wheel: $target"
    venv="$work/venv"
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$target"
fi
vpy="$venv/bin/python"
extension="$(ls "$venv"/lib/python3*/site-packages/softmax_c/_core.*.so | head -1)"
[ -f "$extension" ] || fail "no softmax_c extension in $venv"
echo "venv: $venv"
echo "extension: $extension"

step "2. the wheel's extension through ctypes under -cpu Nehalem"
emulate Nehalem "$vpy" "$root/scripts/ctypes_smoke.py" "$extension" --expect-isa baseline
expect_isa baseline

step "3. C example under -cpu Haswell"
emulate Haswell "$example"
expect_isa avx2

step "3. installed wheel's Python smoke test under -cpu Haswell (every op vs NumPy)"
# from $work, so that only the venv's installed softmax_c is importable
(cd "$work" && emulate Haswell "$vpy" "$root/scripts/smoke_ops.py" --expect-isa avx2)
expect_isa avx2

step "test_old_cpus.sh: PASS"
