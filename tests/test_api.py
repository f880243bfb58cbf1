"""Public names, signatures and the CPU-dispatch controls."""

import inspect

import numpy as np
import pytest


def _params(fn):
    return inspect.signature(fn).parameters


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_elementwise_op_signature(sc, op):
    p = _params(getattr(sc, op))
    assert list(p) == ["x", "axis", "temperature", "out", "threads"]
    assert p["axis"].default == -1
    assert p["temperature"].default == 1.0
    assert p["out"].default is None and p["threads"].default is None
    for name in ("temperature", "out", "threads"):
        assert p[name].kind is inspect.Parameter.KEYWORD_ONLY, name


def test_logsumexp_signature(sc):
    p = _params(sc.logsumexp)
    assert list(p) == ["x", "axis", "b", "keepdims", "return_sign", "out", "threads"]
    assert p["axis"].default == -1
    assert p["b"].default is None
    assert p["keepdims"].default is False and p["return_sign"].default is False
    for name in ("b", "keepdims", "return_sign", "out", "threads"):
        assert p[name].kind is inspect.Parameter.KEYWORD_ONLY, name


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_every_op_has_a_numpy_style_docstring(sc, op):
    doc = getattr(sc, op).__doc__ or ""
    assert "Parameters" in doc and "Returns" in doc


def test_default_axis_is_last(sc, rng):
    x = rng.standard_normal((3, 4))
    np.testing.assert_array_equal(sc.softmax(x), sc.softmax(x, axis=-1))
    np.testing.assert_array_equal(sc.log_softmax(x), sc.log_softmax(x, axis=1))
    assert sc.logsumexp(x).shape == (3,)


def test_cpu_info_describes_the_dispatch(sc):
    info = sc.cpu_info()
    assert set(info) >= {"isa", "available", "compiled", "num_threads"}
    assert info["isa"] in info["available"]
    assert "baseline" in info["available"]
    assert set(info["available"]) <= {"baseline", "avx2", "avx512"}
    assert set(info["available"]) <= set(info["compiled"])
    assert isinstance(info["num_threads"], int) and info["num_threads"] >= 1


def _cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def test_every_variant_this_cpu_supports_is_available(sc):
    # Guards against the isa fixture silently testing only the baseline.
    info = sc.cpu_info()
    flags = _cpu_flags()
    if "avx2" in info["compiled"] and {"avx2", "fma"} <= flags:
        assert "avx2" in info["available"]
    if "avx512" in info["compiled"] and "avx512f" in flags:
        assert "avx512" in info["available"]


def test_set_isa_returns_previous_and_switches(sc):
    start = sc.cpu_info()["isa"]
    try:
        for name in sc.cpu_info()["available"]:
            before = sc.cpu_info()["isa"]
            assert sc.set_isa(name) == before
            assert sc.cpu_info()["isa"] == name
    finally:
        sc.set_isa(start)
    assert sc.cpu_info()["isa"] == start


@pytest.mark.parametrize("bad", ["not-an-isa", "AVX2 ", ""])
def test_set_isa_rejects_unknown_names(sc, bad):
    before = sc.cpu_info()["isa"]
    with pytest.raises(ValueError):
        sc.set_isa(bad)
    assert sc.cpu_info()["isa"] == before


def test_set_isa_rejects_variants_this_cpu_cannot_run(sc):
    missing = [v for v in ("avx2", "avx512") if v not in sc.cpu_info()["available"]]
    before = sc.cpu_info()["isa"]
    for name in missing:
        with pytest.raises(ValueError):
            sc.set_isa(name)
    assert sc.cpu_info()["isa"] == before


def test_set_num_threads_is_reported_by_cpu_info(sc):
    before = sc.cpu_info()["num_threads"]
    try:
        sc.set_num_threads(1)
        assert sc.cpu_info()["num_threads"] == 1
        sc.set_num_threads(2)
        assert sc.cpu_info()["num_threads"] == 2
    finally:
        sc.set_num_threads(before)


@pytest.mark.parametrize("bad", [0, -1])
def test_set_num_threads_rejects_non_positive(sc, bad):
    with pytest.raises(ValueError):
        sc.set_num_threads(bad)
