"""Another Cython extension cimports the kernels of the installed softmax_c.

At test time a tiny .pyx is written to a temporary folder and built with
setuptools + cythonize against whatever softmax_c this test imported (the
installed wheel, or the source tree in a development build).  Its only link
to softmax_c is `from softmax_c._core cimport ...`: Cython resolves the
functions at import through softmax_c._core's C-API table, so nothing is
linked.  The extension calls them on NumPy buffers inside `with nogil`, and
the results are checked against the reference and against softmax_c's own
Python API (same entry points, same variant: bitwise equal).
"""
import importlib
import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap

import numpy as np
import pytest

import checks

softmax_c = pytest.importorskip("softmax_c")

USER_PYX = textwrap.dedent('''
    # cython: language_level=3, boundscheck=False, wraparound=False
    from softmax_c._core cimport (
        softmax_f32, softmax_f64, log_softmax_f32, log_softmax_f64,
        logsumexp_f32, logsumexp_f64, softmax_row_f32, softmax_row_f64,
        log_softmax_row_f32, log_softmax_row_f64, logsumexp_row_f32,
        logsumexp_row_f64, isa_name, OK, ERR_NULL, ERR_SIZE,
        cross_entropy_f32, cross_entropy_f64, softmax_backward_f64,
        log_softmax_backward_f32, REDUCE_MEAN, ERR_LABEL)
    from libc.stdint cimport int64_t
    cimport numpy as cnp

    cnp.import_array()

    # a memory handler of the program's own (NEP 49), over malloc and free
    cdef extern from *:
        """
        #include <stdlib.h>
        static void *user_malloc(void *c, size_t n) { (void)c; return malloc(n ? n : 1); }
        static void *user_calloc(void *c, size_t n, size_t s)
        { (void)c; return calloc(n ? n : 1, s ? s : 1); }
        static void *user_realloc(void *c, void *p, size_t n) { (void)c; return realloc(p, n ? n : 1); }
        static void user_free(void *c, void *p, size_t n) { (void)c; (void)n; free(p); }
        static PyDataMem_Handler user_handler = {
            "user_handler", 1, { NULL, user_malloc, user_calloc, user_realloc, user_free } };
        static PyObject *user_handler_capsule(void)
        { return PyCapsule_New(&user_handler, "mem_handler", NULL); }
        """
        object user_handler_capsule()

    def under_user_handler(fn):
        """fn() with this module's memory handler installed."""
        old = cnp.PyDataMem_SetHandler(user_handler_capsule())
        try:
            return fn()
        finally:
            cnp.PyDataMem_SetHandler(old)

    ctypedef fused real:
        float
        double

    def batch(int op, const real[:, :] x, real[:, :] y, double temperature=1.0,
              int threads=0):
        """op 0/1: softmax/log_softmax of every row of x into y (same shape);
        op 2: logsumexp of every row into y[:, 0].  Returns the C code."""
        cdef int rc
        with nogil:
            if real is float:
                if op == 0:
                    rc = softmax_f32(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                     x.strides[1], &y[0, 0], y.strides[0], y.strides[1],
                                     temperature, threads)
                elif op == 1:
                    rc = log_softmax_f32(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                         x.strides[1], &y[0, 0], y.strides[0],
                                         y.strides[1], temperature, threads)
                else:
                    rc = logsumexp_f32(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                       x.strides[1], &y[0, 0], y.strides[0], threads)
            else:
                if op == 0:
                    rc = softmax_f64(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                     x.strides[1], &y[0, 0], y.strides[0], y.strides[1],
                                     temperature, threads)
                elif op == 1:
                    rc = log_softmax_f64(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                         x.strides[1], &y[0, 0], y.strides[0],
                                         y.strides[1], temperature, threads)
                else:
                    rc = logsumexp_f64(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                       x.strides[1], &y[0, 0], y.strides[0], threads)
        return rc

    def row(int op, const real[::1] x, real[::1] y):
        """The one-row entry points; op 2 writes logsumexp to y[0]."""
        cdef int rc
        with nogil:
            if real is float:
                if op == 0:
                    rc = softmax_row_f32(x.shape[0], &x[0], &y[0])
                elif op == 1:
                    rc = log_softmax_row_f32(x.shape[0], &x[0], &y[0])
                else:
                    rc = logsumexp_row_f32(x.shape[0], &x[0], &y[0])
            else:
                if op == 0:
                    rc = softmax_row_f64(x.shape[0], &x[0], &y[0])
                elif op == 1:
                    rc = log_softmax_row_f64(x.shape[0], &x[0], &y[0])
                else:
                    rc = logsumexp_row_f64(x.shape[0], &x[0], &y[0])
        return rc

    def bad_calls():
        """Codes for a negative length and for NULL data with n > 0."""
        cdef int size_rc, null_rc
        with nogil:
            size_rc = softmax_row_f32(-1, NULL, NULL)
            null_rc = logsumexp_f64(1, 4, NULL, 0, 8, NULL, 8, 0)
        return size_rc, null_rc

    def codes():
        return OK, ERR_NULL, ERR_SIZE

    def xent_mean(const real[:, :] x, const int64_t[::1] t, real[:, :] g,
                  int threads=0):
        """Mean cross-entropy of the rows of x and its gradient into g."""
        cdef int rc
        cdef double total = 0.0
        with nogil:
            if real is float:
                rc = cross_entropy_f32(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                       x.strides[1], &t[0], 8, NULL, -100, 0.0,
                                       REDUCE_MEAN, &g[0, 0], g.strides[0], g.strides[1],
                                       &total, threads)
            else:
                rc = cross_entropy_f64(x.shape[0], x.shape[1], &x[0, 0], x.strides[0],
                                       x.strides[1], &t[0], 8, NULL, -100, 0.0,
                                       REDUCE_MEAN, &g[0, 0], g.strides[0], g.strides[1],
                                       &total, threads)
        return rc, total

    def softmax_bwd(const double[:, ::1] y, const double[:, ::1] dy, double[:, ::1] out):
        cdef int rc
        with nogil:
            rc = softmax_backward_f64(y.shape[0], y.shape[1], &y[0, 0], y.strides[0], 8,
                                      &dy[0, 0], dy.strides[0], 8, &out[0, 0],
                                      out.strides[0], 8, 0)
        return rc

    def log_softmax_bwd(const float[:, ::1] y, const float[:, ::1] dy, float[:, ::1] out):
        cdef int rc
        with nogil:
            rc = log_softmax_backward_f32(y.shape[0], y.shape[1], &y[0, 0], y.strides[0], 4,
                                          &dy[0, 0], dy.strides[0], 4, &out[0, 0],
                                          out.strides[0], 4, 0)
        return rc

    def label_error_code():
        return ERR_LABEL

    def isa():
        cdef const char *name
        with nogil:
            name = isa_name()
        return name.decode()
''')

USER_SETUP = textwrap.dedent('''
    import numpy
    import softmax_c
    from Cython.Build import cythonize
    from setuptools import Extension, setup

    ext = Extension("smc_cimport_user", ["smc_cimport_user.pyx"],
                    include_dirs=[softmax_c.get_include(), numpy.get_include()])
    setup(name="smc-cimport-user", ext_modules=cythonize([ext], quiet=True),
          script_args=["build_ext", "--inplace"])
''')

OPS = ("softmax", "log_softmax", "logsumexp")


def _missing_tool():
    """Why the extension cannot be built here, or None."""
    for module in ("Cython", "setuptools"):
        try:
            importlib.import_module(module)
        except ImportError:
            return f"{module} is not installed (it is in the [test] extras)"
    if sys.platform != "win32":   # MSVC is found by setuptools itself
        cc = (os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc").split()[0]
        if shutil.which(cc) is None:
            return f"no C compiler ({cc!r} not found)"
    return None


@pytest.fixture(scope="module")
def user_ext(tmp_path_factory):
    reason = _missing_tool()
    if reason:
        pytest.skip(f"cannot build a Cython extension here: {reason}")
    folder = tmp_path_factory.mktemp("cimport_user")
    (folder / "smc_cimport_user.pyx").write_text(USER_PYX)
    (folder / "setup.py").write_text(USER_SETUP)
    # Build against the very softmax_c this process imported (installed or
    # source tree): its parent folder goes first on the build's path.
    package_parent = os.path.dirname(os.path.dirname(os.path.abspath(softmax_c.__file__)))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([package_parent] + [p for p in [env.get("PYTHONPATH")] if p])
    done = subprocess.run([sys.executable, "setup.py"], cwd=folder, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, f"building the cimport extension failed:\n{done.stdout}\n{done.stderr}"
    sys.path.insert(0, str(folder))
    try:
        module = importlib.import_module("smc_cimport_user")
    finally:
        sys.path.remove(str(folder))
    return module


def test_functions_come_from_the_packages_capi_table():
    names = set(softmax_c._core.__pyx_capi__)
    for op in OPS:
        for dt in ("f32", "f64"):
            assert f"{op}_{dt}" in names and f"{op}_row_{dt}" in names
    assert "isa_name" in names
    for op in ("cross_entropy", "softmax_backward", "log_softmax_backward"):
        assert f"{op}_f32" in names and f"{op}_f64" in names


def test_cimported_module_sees_the_active_variant(user_ext):
    assert user_ext.isa() == softmax_c.cpu_info()["isa"]


def test_a_programs_own_memory_handler_keeps_softmax_c_results(user_ext):
    # softmax_c's output cache stands in only for NumPy's default handler
    try:
        from numpy._core.multiarray import get_handler_name
    except ImportError:                                 # NumPy 1.x
        from numpy.core.multiarray import get_handler_name
    x = np.ones((512, 1024))                            # 4 MiB: a cached size
    assert get_handler_name(softmax_c.softmax(x)) == "softmax_c_output_cache"
    for call in (lambda: softmax_c.softmax(x), lambda: softmax_c.log_softmax(x, axis=0),
                 lambda: softmax_c.cross_entropy(x, np.zeros(512, np.int64),
                                                 return_grad=True)[1]):
        assert get_handler_name(user_ext.under_user_handler(call)) == "user_handler"


def test_cimported_error_codes(user_ext):
    ok, err_null, err_size = user_ext.codes()
    assert (ok, err_null, err_size) == (0, -1, -2)
    assert user_ext.bad_calls() == (err_size, err_null)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op_index, op", list(enumerate(OPS)))
@pytest.mark.parametrize("along", ["rows", "columns"])
def test_cimported_batch_kernels(user_ext, rng, isa, dtype, op_index, op, along):
    # 300 x 257: more than 65536 elements (automatic threading), odd lengths
    # (vector tails); "columns" reduces axis 0 of a C-order array (strided).
    x = checks.normal_rows(rng, (300, 257), dtype)
    rows_view = x if along == "rows" else x.T
    out = checks.fill_pattern(x.shape, dtype)
    out_view = out if along == "rows" else out.T
    assert user_ext.batch(op_index, rows_view, out_view) == 0
    axis = -1 if along == "rows" else 0
    got = out_view[:, 0].copy() if op == "logsumexp" else out
    checks.assert_result_matches_reference(op, x, got, axis=axis)
    # The same C entry point behind softmax_c's own Python API: bitwise equal.
    np.testing.assert_array_equal(got, getattr(softmax_c, op)(x, axis=axis))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("op_index, op", list(enumerate(OPS)))
def test_cimported_row_kernels(user_ext, rng, isa, dtype, op_index, op):
    x = checks.normal_rows(rng, (1000,), dtype)
    out = checks.fill_pattern(x.shape, dtype)
    assert user_ext.row(op_index, x, out) == 0
    got = out[:1].reshape(()) if op == "logsumexp" else out
    checks.assert_result_matches_reference(op, x, got)
    if op == "logsumexp":
        assert (out[1:] == checks.fill_pattern(999, dtype)).all(), "wrote past the result"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cimported_cross_entropy(user_ext, rng, dtype):
    # the same C entry point as softmax_c.cross_entropy: bitwise equal
    x = checks.normal_rows(rng, (300, 257), dtype)
    t = rng.integers(0, 257, 300).astype(np.int64)
    g = np.empty_like(x)
    rc, total = user_ext.xent_mean(x, t, g)
    assert rc == 0
    loss, want = softmax_c.cross_entropy(x, t, return_grad=True)
    assert dtype(total) == loss and g.tobytes() == want.tobytes()
    t[7] = 257                        # out of range: nothing written
    g[:] = 0
    assert user_ext.xent_mean(x, t, g)[0] == user_ext.label_error_code() == -4
    assert not g.any()


def test_cimported_backward_passes(user_ext, rng):
    x = checks.normal_rows(rng, (64, 100), np.float64)
    y, dy, out = softmax_c.softmax(x), rng.standard_normal(x.shape), np.empty_like(x)
    assert user_ext.softmax_bwd(y, dy, out) == 0
    np.testing.assert_array_equal(out, softmax_c.softmax_backward(y, dy))
    y32 = softmax_c.log_softmax(x.astype(np.float32))
    dy32, out32 = dy.astype(np.float32), np.empty_like(y32)
    assert user_ext.log_softmax_bwd(y32, dy32, out32) == 0
    np.testing.assert_array_equal(out32, softmax_c.log_softmax_backward(y32, dy32))


def test_cimported_temperature(user_ext, rng):
    x = checks.normal_rows(rng, (64, 100), np.float64)
    out = np.empty_like(x)
    assert user_ext.batch(0, x, out, 2.0) == 0
    # temperature 2 is a power of two: exact scaling, so the plain contract
    checks.assert_result_matches_reference("softmax", x, out, temperature=2.0)
