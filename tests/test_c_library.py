"""The C library builds without Python and its example programs pass.

Runs `make check` from the repository root into a temporary build folder:
the static and shared libraries from src/ (Makefile), then
examples/softmax_example.c (softmax, log_softmax and logsumexp through the
row and batch entry points, checked against a double-precision loop, for
every variant this CPU can run; linked once statically and once against
the shared library) and examples/api_errors.c (every entry point rejects
bad arguments with its documented code).

Skipped, with the reason, where there is no source tree, no `make` or no C
compiler.  The source tree is the folder above tests/, or the one named by
SOFTMAX_C_SOURCE_TREE (scripts/test_wheel.sh runs a copy of tests/ against
the installed wheel and points this test back at the sources).
"""
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(os.environ.get("SOFTMAX_C_SOURCE_TREE") or Path(__file__).resolve().parent.parent)


def _missing_tool():
    if not (ROOT / "Makefile").is_file() or not (ROOT / "src" / "include" / "softmax_c.h").is_file():
        return f"no source tree with a Makefile at {ROOT}"
    if shutil.which("make") is None:
        return "no `make`"
    cc = os.environ.get("CC", "cc").split()[0]
    if shutil.which(cc) is None:
        return f"no C compiler ({cc!r} not found)"
    return None


@pytest.fixture(scope="module")
def make_check(tmp_path_factory):
    reason = _missing_tool()
    if reason:
        pytest.skip(f"C library not built: {reason}")
    build = tmp_path_factory.mktemp("c_library")
    done = subprocess.run(["make", "-C", str(ROOT), "-j2", "check", f"BUILD={build}"],
                          capture_output=True, text=True, timeout=600)
    return build, done


def test_make_check_passes(make_check):
    build, done = make_check
    assert done.returncode == 0, f"make check failed:\n{done.stdout}\n{done.stderr}"
    for name in ("libsoftmax_c.a", "libsoftmax_c.so"):
        assert (build / name).is_file(), f"{name} not built"


def test_example_checks_every_variant(make_check):
    _, done = make_check
    out = done.stdout
    # both the static and the shared build of the example report success
    assert out.count("OK: softmax, log_softmax and logsumexp match") == 2, out
    active = re.findall(r"active ISA: (\w+)", out)
    checked = re.findall(r"variants checked: ([\w ]+)", out)
    assert len(active) == 2 and len(checked) == 2, out
    # The C library chooses the same variant as this Python package does,
    # unless SOFTMAX_C_ISA asks both for a lower one.
    softmax_c = pytest.importorskip("softmax_c")
    info = softmax_c.cpu_info()
    wanted = os.environ.get("SOFTMAX_C_ISA")
    expected = wanted if wanted in info["available"] else info["available"][-1]
    assert active == [expected, expected], out
    for line in checked:
        assert sorted(line.split()) == sorted(info["available"]), out


def test_api_errors_all_pass(make_check):
    _, done = make_check
    match = re.search(r"api_errors: all (\d+) checks passed", done.stdout)
    assert match and int(match.group(1)) >= 100, done.stdout + done.stderr


def test_shared_library_exports_the_public_api(make_check):
    build, done = make_check
    if not sys.platform.startswith("linux") or shutil.which("nm") is None:
        pytest.skip("symbol check written for ELF shared libraries (Linux, with `nm`)")
    header = (ROOT / "src" / "include" / "softmax_c.h").read_text()
    declared = set(re.findall(r"\b(smc_\w+)\s*\(", header))
    symbols = subprocess.run(["nm", "-D", "--defined-only", str(build / "libsoftmax_c.so")],
                             capture_output=True, text=True, check=True).stdout
    exported = set(re.findall(r"\bT (smc_\w+)", symbols))
    assert declared and declared <= exported, f"declared but not exported: {declared - exported}"
