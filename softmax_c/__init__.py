"""softmax_c: numerically stable softmax, log_softmax, logsumexp and fused
cross-entropy in C.

NumPy-style functions over float32/float64 arrays, any axis and any
strides, computed by vectorised C kernels chosen at import for this CPU.
"""
import os as _os
import platform as _platform
import warnings as _warnings



def _use_installed_core_if_missing():
    """Let a source checkout without an in-place build import the compiled
    module of the installed copy.

    `python -m softmax_c` run in the repository after `pip install .` puts
    the checkout first on sys.path; its Python files are the installed ones,
    but the compiled `_core` exists only in site-packages.
    """
    import importlib.machinery
    import sys
    here = _os.path.dirname(_os.path.abspath(__file__))
    suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
    if any(f.startswith("_core.") and f.endswith(suffixes) for f in _os.listdir(here)):
        return
    for entry in sys.path:
        candidate = _os.path.join(_os.path.abspath(entry or "."), "softmax_c")
        if candidate == here or not _os.path.isdir(candidate):
            continue
        if any(f.startswith("_core.") and f.endswith(suffixes) for f in _os.listdir(candidate)):
            __path__.append(candidate)
            return


_use_installed_core_if_missing()

from . import _core  # noqa: E402
from ._api import log_softmax, logsumexp, softmax  # noqa: E402
from ._loss import cross_entropy, log_softmax_backward, softmax_backward  # noqa: E402

__version__ = _core.C_VERSION
__all__ = ["softmax", "log_softmax", "logsumexp", "cross_entropy", "softmax_backward",
           "log_softmax_backward", "cpu_info", "set_isa",
           "set_num_threads", "set_output_cache", "get_num_threads", "get_include", "__version__"]


def _compiled_variants():
    if _platform.machine().lower() in ("x86_64", "amd64"):
        # MSVC builds leave out the AVX-512 variant (see src/core/internal.h)
        return ["baseline", "avx2"] if _platform.system() == "Windows" else \
            ["baseline", "avx2", "avx512"]
    return ["baseline"]


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return _platform.processor() or _platform.machine()


def cpu_info():
    """Which kernel variant runs here, and which ones could.

    Returns
    -------
    dict
        ``isa``: the active variant ("baseline", "avx2" or "avx512");
        ``available``: variants this CPU and OS can run (baseline first);
        ``compiled``: variants built into this package;
        ``num_threads``: the thread limit of automatic calls;
        ``cpu``: the CPU model name.
    """
    compiled = _compiled_variants()
    return {
        "isa": _core.active_isa(),
        "available": [v for v in compiled if _core.isa_available(v)],
        "compiled": compiled,
        "num_threads": _core.get_num_threads(),
        "cpu": _cpu_model(),
    }


def set_isa(name):
    """Switch the kernel variant (for testing and comparisons).

    Returns the previous variant's name.  Raises ValueError when `name` is
    not a variant this CPU can run.  The environment variable
    ``SOFTMAX_C_ISA`` chooses the variant at import instead.
    """
    previous = _core.active_isa()
    if not isinstance(name, str):
        raise TypeError(f"set_isa: name must be a str; got {type(name).__name__}")
    if not _core.set_isa(name):
        raise ValueError(f"set_isa: {name!r} is not available here; available: "
                         f"{cpu_info()['available']}")
    return previous


def set_num_threads(n):
    """Limit automatic calls (``threads=None``) to at most `n` threads."""
    from ._api import _check_threads
    if n is None:
        raise TypeError("set_num_threads: n must be an int >= 1; got None")
    _core.set_num_threads(_check_threads(n, "set_num_threads: n"))


def get_num_threads():
    """The thread limit of automatic calls."""
    return _core.get_num_threads()


def set_output_cache(max_bytes):
    """Limit the cache of freed output memory to `max_bytes` (0: no cache).

    Calls without ``out=`` allocate their result (and any scratch array).
    An array of at least 1 MiB gets its memory from a cache of up to four
    blocks that softmax_c's own arrays left when they were freed, if one
    has the same size: a fresh block from the OS costs a page fault and a
    zeroed page per 4 KiB on first touch, over a third of the time of a
    large float64 softmax.  The cache holds at most 256 MiB by default
    (``SOFTMAX_C_OUTPUT_CACHE_MB`` sets it at import).  Kept blocks are
    freed now; returns the previous limit in bytes.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError("set_output_cache: max_bytes must be an int >= 0; "
                        f"got {type(max_bytes).__name__}")
    if not 0 <= max_bytes < 1 << 63:
        raise ValueError(f"set_output_cache: max_bytes must be in [0, 2**63); got {max_bytes}")
    previous = _core.output_cache_info()["limit"]
    _core.set_output_cache(max_bytes)
    return previous


def get_include():
    """Folder holding ``softmax_c.h``, for compiling C code against it."""
    return _os.path.join(_os.path.dirname(__file__), "include")


def _warn_if_isa_request_ignored():
    wanted = _os.environ.get("SOFTMAX_C_ISA")
    if wanted and wanted != _core.active_isa():
        _warnings.warn(f"SOFTMAX_C_ISA={wanted!r} is not available on this machine; "
                       f"using {_core.active_isa()!r}", RuntimeWarning, stacklevel=2)


def _output_cache_from_env():
    text = _os.environ.get("SOFTMAX_C_OUTPUT_CACHE_MB")
    if text is None:
        return
    try:
        mib = int(text)
        if mib < 0:
            raise ValueError
    except ValueError:
        _warnings.warn(f"SOFTMAX_C_OUTPUT_CACHE_MB={text!r} is not an int >= 0; "
                       "keeping the default", RuntimeWarning, stacklevel=2)
        return
    _core.set_output_cache(mib << 20)


_warn_if_isa_request_ignored()
_output_cache_from_env()
