"""The cache of freed output memory (softmax_c/output_cache.h).

Allocating calls on arrays of at least 1 MiB take their result's memory
from blocks that softmax_c's earlier results left when freed.  Checked
here: that a same-size call does reuse a block (the cache's hit count),
that a reused block's old contents never show in a result, the limits
(slots, bytes, the 1 MiB floor, 0 = off), the environment variable (bad
limits: test_bad_input.py), that
cached arrays behave as any NumPy array, and many threads at once.
"""

import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pytest

import softmax_c
from softmax_c import _core

MIB = 1 << 20
SLOTS = 4


@pytest.fixture
def cache():
    """A cache emptied before and after the test, at the default limit (its
    hit and miss counts run on over the session)."""
    softmax_c.set_output_cache(_core.OUTPUT_CACHE_DEFAULT_BYTES)
    yield _core.output_cache_info
    softmax_c.set_output_cache(_core.OUTPUT_CACHE_DEFAULT_BYTES)


def _large(rng, dtype=np.float64, shape=(512, 1024)):     # 4 MiB in float64
    return rng.standard_normal(shape).astype(dtype)


CALLS = {
    "softmax": lambda x: softmax_c.softmax(x),
    "log_softmax": lambda x: softmax_c.log_softmax(x, axis=0),
    "softmax_backward": lambda x: softmax_c.softmax_backward(x, x),
    "cross_entropy grad": lambda x: softmax_c.cross_entropy(
        x, np.zeros(x.shape[0], np.int64), return_grad=True)[1],
}


def _with_out(name, x):
    """The same call into a fresh out= (or grad_out=) array."""
    out = np.full_like(x, np.nan)
    if name == "softmax":
        softmax_c.softmax(x, out=out)
    elif name == "log_softmax":
        softmax_c.log_softmax(x, axis=0, out=out)
    elif name == "softmax_backward":
        softmax_c.softmax_backward(x, x, out=out)
    else:
        softmax_c.cross_entropy(x, np.zeros(x.shape[0], np.int64), return_grad=True,
                                grad_out=out)
    return out


@pytest.mark.parametrize("name", sorted(CALLS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_freed_result_is_reused_and_fully_overwritten(cache, rng, name, dtype):
    x1, x2 = _large(rng, dtype), _large(rng, dtype)
    first = CALLS[name](x1)
    address = first.ctypes.data
    del first                               # its block goes to the cache
    assert cache()["blocks"] == 1
    hits = cache()["hits"]
    second = CALLS[name](x2)
    assert cache()["hits"] == hits + 1 and second.ctypes.data == address
    # every element of the reused block is written: the first call's
    # results must not show through
    assert np.array_equal(second, _with_out(name, x2))


def test_large_results_carry_the_cache_handler(cache, rng):
    try:
        from numpy._core.multiarray import get_handler_name
    except ImportError:                                 # NumPy 1.x
        from numpy.core.multiarray import get_handler_name
    assert get_handler_name(softmax_c.softmax(_large(rng))) == "softmax_c_output_cache"
    assert get_handler_name(softmax_c.softmax(np.ones((3, 4)))) == "default_allocator"
    # a program's own handler is left in charge: test_cython_cimport.py


def test_small_arrays_are_left_to_malloc(cache, rng):
    x = rng.standard_normal((MIB // 8 - 1,))          # one element short of 1 MiB
    before = cache()
    for _ in range(3):
        softmax_c.softmax(x)
    after = cache()
    assert (after["hits"], after["misses"]) == (before["hits"], before["misses"])
    assert after["blocks"] == 0


def test_at_most_four_blocks_and_the_byte_limit(cache):
    arrays = [_core.output_like(np.empty(MIB + i, np.uint8)) for i in range(SLOTS + 2)]
    while arrays:                               # six sizes, freed oldest first
        arrays.pop(0)
    info = cache()
    assert info["blocks"] == SLOTS and info["bytes"] == sum(MIB + i for i in range(2, SLOTS + 2))
    # the oldest two were dropped: their size misses, the newest hits
    hits = info["hits"]
    _ = _core.output_like(np.empty(MIB, np.uint8))
    assert cache()["hits"] == hits
    _ = _core.output_like(np.empty(MIB + SLOTS + 1, np.uint8))
    assert cache()["hits"] == hits + 1

    softmax_c.set_output_cache(3 * MIB)
    arrays = [_core.output_like(np.empty(2 * MIB, np.uint8)) for _ in range(2)]
    del arrays
    assert cache()["blocks"] == 1 and cache()["bytes"] == 2 * MIB
    big = _core.output_like(np.empty(4 * MIB, np.uint8))     # above the limit: not kept
    del big
    assert cache()["blocks"] == 1 and cache()["bytes"] == 2 * MIB


def test_zero_turns_the_cache_off(cache, rng):
    assert softmax_c.set_output_cache(0) == _core.OUTPUT_CACHE_DEFAULT_BYTES
    x = _large(rng)
    hits = cache()["hits"]
    for _ in range(3):
        y = softmax_c.softmax(x)
        del y
    assert cache()["blocks"] == 0 and cache()["hits"] == hits and cache()["limit"] == 0


def test_setting_the_limit_frees_the_kept_blocks(cache, rng):
    y = softmax_c.softmax(_large(rng))
    del y
    assert cache()["blocks"] == 1
    softmax_c.set_output_cache(MIB << 10)
    assert cache()["blocks"] == 0 and cache()["bytes"] == 0 and cache()["limit"] == MIB << 10


@pytest.mark.parametrize("value, limit, warns", [
    ("0", 0, False), ("16", 16 * MIB, False),
    ("lots", _core.OUTPUT_CACHE_DEFAULT_BYTES, True),
    ("-3", _core.OUTPUT_CACHE_DEFAULT_BYTES, True)])
def test_environment_variable_sets_the_limit(value, limit, warns):
    code = ("import warnings; warnings.simplefilter('always')\n"
            "import softmax_c; from softmax_c import _core\n"
            "print(_core.output_cache_info()['limit'])")
    env = dict(os.environ, SOFTMAX_C_OUTPUT_CACHE_MB=value)
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True)
    assert int(run.stdout) == limit
    assert ("SOFTMAX_C_OUTPUT_CACHE_MB" in run.stderr) == warns


def test_cached_arrays_behave_like_any_array(cache, rng):
    x = np.asfortranarray(_large(rng))
    y = softmax_c.softmax(x, axis=0)
    assert y.flags.owndata and y.flags.writeable and y.flags.f_contiguous
    assert np.array_equal(pickle.loads(pickle.dumps(y)), y)
    view = y[::2]
    del y                                   # the view keeps the block alive
    assert cache()["blocks"] == 0
    assert np.array_equal(view, softmax_c.softmax(x, axis=0)[::2])
    z = softmax_c.softmax(x)
    z.resize((3, 3), refcheck=False)        # realloc through the handler
    z[...] = 1.0
    del view, z
    assert cache()["bytes"] <= cache()["limit"]


def test_many_threads_share_the_cache(cache, rng):
    xs = [_large(rng, np.float32, (256 * (1 + i % 3), 1024)) for i in range(8)]
    want = [softmax_c.softmax(x, out=np.empty_like(x)) for x in xs]
    errors = []

    def work(i):
        try:
            for _ in range(20):
                if not np.array_equal(softmax_c.softmax(xs[i], threads=1), want[i]):
                    errors.append(i)
        except Exception as exc:                # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(xs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    info = cache()
    assert info["hits"] > 0 and info["blocks"] <= SLOTS and info["bytes"] <= info["limit"]
