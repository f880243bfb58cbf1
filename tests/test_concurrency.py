"""Issue 6, concurrency and resources: Python threads, the library's own
thread pool, interrupts, fork, and memory over many calls.

Every workload runs every op in robust_ops.OPS; results are compared bit
for bit with single-threaded calls (the kernels promise bitwise identical
results for every thread count and every caller).
"""

import _thread
import ctypes
import gc
import os
import signal
import sys
import threading
import time
import tracemalloc
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import softmax_c
from robust_ops import OPS, assert_bitwise_equal

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork + threads (3.12+)


def _workloads(rng):
    """(name, op, x, kwargs) covering row, column and split-row modes, the
    pool (threads=2/3) and each op's options."""
    f32 = (rng.standard_normal((64, 1000)) * 4).astype(np.float32)
    f64 = (rng.standard_normal((300, 130)) * 4).astype(np.float64)
    long_row = (rng.standard_normal((1, 300_000)) * 3).astype(np.float32)
    cols = (rng.standard_normal((200, 64)) * 4).astype(np.float64)
    loads = []
    for op in OPS:
        loads += [
            (f"{op.name}-rows-f32", op, f32, {"axis": -1}),
            (f"{op.name}-rows-f64-threads3", op, f64, {"axis": -1, "threads": 3}),
            (f"{op.name}-columns", op, cols, {"axis": 0, "threads": 2}),
            (f"{op.name}-long-row-threads2", op, long_row, {"axis": -1, "threads": 2}),
            (f"{op.name}-axis-none", op, f64[:40], {"axis": None}),
        ]
        if "temperature" in op.options:
            loads.append((f"{op.name}-temperature", op, f32, {"temperature": 0.7}))
        if "b" in op.options:
            b = rng.uniform(-1, 2, f64.shape[-1])
            loads.append((f"{op.name}-weights", op, f64, {"b": b, "return_sign": True}))
    return loads


def _call(op, x, kwargs):
    r = op(x, **kwargs)
    return tuple(np.asarray(v) for v in r) if isinstance(r, tuple) else (np.asarray(r),)


def _assert_same(got, want, what):
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        assert_bitwise_equal(g, w, what)


@pytest.fixture
def restore_runtime():
    threads, isa = softmax_c.get_num_threads(), softmax_c.cpu_info()["isa"]
    yield
    softmax_c.set_num_threads(threads)
    softmax_c.set_isa(isa)


# ---- many Python threads ------------------------------------------------------

def test_eight_python_threads_match_single_threaded_results(rng, restore_runtime):
    loads = _workloads(rng)
    want = {name: _call(op, x, kw) for name, op, x, kw in loads}
    inputs_before = {name: x.copy() for name, _, x, _ in loads}
    barrier = threading.Barrier(8)
    failures = []

    def worker(seed):
        order = np.random.default_rng(seed).permutation(len(loads))
        barrier.wait()
        for rep in range(3):
            for i in order:
                name, op, x, kw = loads[i]
                try:
                    _assert_same(_call(op, x, kw), want[name], f"{name} in thread {seed}")
                except AssertionError as exc:
                    failures.append(str(exc))
        return True

    with ThreadPoolExecutor(8) as pool:
        done = [f.result(timeout=300) for f in [pool.submit(worker, s) for s in range(8)]]
    assert all(done) and not failures, failures[:5]
    for name, _, x, _ in loads:     # shared inputs were only read
        assert_bitwise_equal(x, inputs_before[name], f"input of {name} changed")


def test_threads_while_the_thread_limit_changes(rng, restore_runtime):
    # set_num_threads from another thread during calls: results stay bitwise
    # identical (they never depend on the thread count)
    loads = [w for w in _workloads(rng) if "threads" not in w[3]]
    want = {name: _call(op, x, kw) for name, op, x, kw in loads}
    stop = threading.Event()

    def flip():
        k = 0
        while not stop.is_set():
            softmax_c.set_num_threads(1 + k % 4)
            k += 1
            time.sleep(0.0005)

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            futures = [pool.submit(lambda l=l: _assert_same(_call(l[1], l[2], l[3]), want[l[0]], l[0]))
                       for l in loads * 4]
            for f in futures:
                f.result(timeout=300)
    finally:
        stop.set()
        flipper.join()


def test_isa_switch_during_calls_gives_one_variant_per_call(rng, restore_runtime):
    # each call reads the active kernel table once: with set_isa flipping in
    # another thread, every result is exactly one variant's result
    variants = softmax_c.cpu_info()["available"]
    if len(variants) < 2:
        pytest.skip("only one kernel variant runs on this CPU")
    loads = _workloads(rng)[:6]
    want = {}
    for v in variants:
        softmax_c.set_isa(v)
        want[v] = {name: _call(op, x, kw) for name, op, x, kw in loads}
    stop = threading.Event()

    def flip():
        k = 0
        while not stop.is_set():
            softmax_c.set_isa(variants[k % len(variants)])
            k += 1
            time.sleep(0.0003)

    def check(load):
        name, op, x, kw = load
        got = _call(op, x, kw)
        matches = [v for v in variants if all(
            g.tobytes() == w.tobytes() for g, w in zip(got, want[v][name]))]
        assert matches, f"{name}: result matches no single variant"

    flipper = threading.Thread(target=flip)
    flipper.start()
    try:
        with ThreadPoolExecutor(4) as pool:
            for f in [pool.submit(check, l) for l in loads * 10]:
                f.result(timeout=300)
    finally:
        stop.set()
        flipper.join()


def _thread_count():
    return len(os.listdir("/proc/self/task"))


@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs /proc (Linux)")
def test_python_threads_with_library_threads_do_not_deadlock_or_oversubscribe(
        rng, restore_runtime):
    x = (rng.standard_normal((512, 4096)) * 4).astype(np.float32)
    long_row = (rng.standard_normal((2, 400_000)) * 4).astype(np.float32)
    want = {(op.name, k): _call(op, a, {"threads": 1})
            for op in OPS for k, a in (("x", x), ("long", long_row))}
    library_threads = 4
    python_threads = 6
    before = _thread_count()
    peak = [before]
    stop = threading.Event()

    def monitor():
        while not stop.is_set():
            peak[0] = max(peak[0], _thread_count())
            time.sleep(0.002)

    def caller(seed):
        for rep in range(4):
            for op in OPS:
                for k, a in (("x", x), ("long", long_row)):
                    _assert_same(_call(op, a, {"threads": library_threads}), want[op.name, k],
                                 f"{op.name}-{k}")
        return seed

    mon = threading.Thread(target=monitor)
    mon.start()
    try:
        pool = ThreadPoolExecutor(python_threads)
        futures = [pool.submit(caller, s) for s in range(python_threads)]
        deadline = time.monotonic() + 300
        for f in futures:
            f.result(timeout=max(1.0, deadline - time.monotonic()))  # TimeoutError = deadlock
        pool.shutdown()
    finally:
        stop.set()
        mon.join()
    # one pool serves one caller at a time; the others run on their own
    # thread: at most python_threads + monitor + (library_threads - 1) new
    allowed = before + python_threads + 1 + (library_threads - 1)
    assert peak[0] <= allowed, f"{peak[0]} threads (started with {before}, allowed {allowed})"


# ---- the GIL is released --------------------------------------------------------

def _long_call(op):
    """A call of ~0.1-0.5 s that allocates at most a few hundred MB."""
    if op.writes_input_shape:
        n = 2**25
        x = np.broadcast_to(np.float32(0.25), (n,))
        out = np.empty(n, np.float32)
        return lambda: op(x, out=out, threads=1)
    x = np.broadcast_to(np.float32(0.25), (2**28,))
    return lambda: op(x, threads=1)


@pytest.mark.parametrize("op", OPS, ids=repr)
def test_gil_is_released_during_a_call(op):
    call = _long_call(op)
    call()                                    # warm up (page in out)
    stamps = []
    stop = threading.Event()

    def spin():
        k = 0
        while not stop.is_set():
            k += 1
            if k % 200 == 0:
                stamps.append(time.perf_counter())

    spinner = threading.Thread(target=spin)
    spinner.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    call()
    t1 = time.perf_counter()
    stop.set()
    spinner.join()
    inside = [t0] + [s for s in stamps if t0 <= s <= t1] + [t1]
    longest_gap = max(b - a for a, b in zip(inside, inside[1:]))
    # with the GIL held the spinner stops for the whole call (minus at most
    # one 5 ms switch interval); released, it keeps stamping throughout
    assert t1 - t0 > 0.03, f"call too short to tell ({t1 - t0:.3f} s)"
    assert longest_gap < 0.5 * (t1 - t0), (
        f"other thread stalled {longest_gap * 1e3:.0f} ms of a {(t1 - t0) * 1e3:.0f} ms call")


# ---- KeyboardInterrupt during a long call ---------------------------------------

def _interrupt_soon(how, delay=0.05):
    if how == "interrupt_main":
        timer = threading.Timer(delay, _thread.interrupt_main)
        timer.start()
        return timer.cancel
    previous = signal.getsignal(signal.SIGALRM)

    def handler(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, delay)

    def undo():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    return undo


@pytest.mark.skipif(not hasattr(signal, "setitimer"), reason="needs signal.setitimer")
@pytest.mark.parametrize("how", ["interrupt_main", "setitimer"])
@pytest.mark.parametrize("op", OPS, ids=repr)
def test_keyboard_interrupt_during_a_long_call(rng, op, how):
    n = 2**24 if op.writes_input_shape else 2**27
    x = np.broadcast_to(np.float32(-0.5), (4, n // 4))
    out = np.full(op.out_shape(x.shape, -1), -12345.5, np.float32)
    small = (rng.standard_normal((64, 5000)) * 4).astype(np.float32)
    want_small = _call(op, small, {"threads": 2})
    want = op(x, threads=1)
    undo = _interrupt_soon(how)
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in range(50):           # the interrupt lands during one of these
                op(x, out=out, threads=2)
                time.sleep(0)
    finally:
        undo()
    # out holds a whole result (the C call always completes; Python sees
    # the interrupt between calls), never a half-written one
    assert_bitwise_equal(out, want, "out after the interrupt")
    # and the library still works, threads included
    for _ in range(3):
        _assert_same(_call(op, small, {"threads": 2}), want_small, "call after interrupt")


# ---- fork -------------------------------------------------------------------------

def _run_in_child(fn, timeout=30.0):
    """Run fn() in a forked child; return its exit status (0: fn returned True)
    or "deadlocked".  The child leads its own process group, so a timeout
    kills whatever it forked too."""
    pid = os.fork()
    if pid == 0:                                  # child: never return into pytest
        code = 3
        try:
            os.setpgid(0, 0)
            code = 0 if fn() else 1
        except BaseException:                     # noqa: BLE001 - report via exit code
            code = 2
        finally:
            os._exit(code)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.01)
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:                    # child had not called setpgid yet
        os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    return "deadlocked"


def _fork_check(rng):
    x = (rng.standard_normal((8, 200_000)) * 3).astype(np.float32)
    want = {op.name: _call(op, x, {"threads": 2}) for op in OPS}   # starts the pool

    def child():
        ok = True
        for op in OPS:
            for threads in (2, None, 1):
                got = _call(op, x, {"threads": threads})
                ok &= all(g.tobytes() == w.tobytes() for g, w in zip(got, want[op.name]))
        return ok
    return child


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_after_using_the_thread_pool(rng):
    # without the pthread_atfork handler the child believes the parent's
    # workers exist and waits for them forever
    child = _fork_check(rng)
    assert _run_in_child(child) == 0
    assert child(), "parent broken after fork"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fork_while_another_thread_is_inside_a_pooled_call(rng):
    child = _fork_check(rng)
    busy = (rng.standard_normal((16, 300_000))).astype(np.float32)
    stop = threading.Event()

    def keep_pool_busy():
        while not stop.is_set():
            softmax_c.softmax(busy, threads=2)

    bg = threading.Thread(target=keep_pool_busy)
    bg.start()
    results = []
    try:
        while len(results) < 10 and results.count(0) == len(results):
            results.append(_run_in_child(child))
    finally:
        stop.set()
        bg.join()
    assert results == [0] * 10, results


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_nested_fork(rng):
    child = _fork_check(rng)
    assert _run_in_child(lambda: child() and _run_in_child(child, timeout=10) == 0) == 0


# ---- memory over many calls ------------------------------------------------------

def _many_small_calls(rng):
    """Closures doing small calls down every path, errors included."""
    x32 = rng.standard_normal((4, 17)).astype(np.float32)
    x64 = rng.standard_normal((3, 5, 7))
    out32 = np.empty_like(x32)
    b = rng.uniform(0.1, 1.0, 17)
    calls = []
    for op in OPS:
        calls += [lambda op=op: op(x32),
                  lambda op=op: op(x64, axis=(0, 2)),
                  lambda op=op: op(x64, axis=1, threads=2),
                  lambda op=op: op(x32.T, axis=0)]
        if op.writes_input_shape:
            calls.append(lambda op=op: op(x32, out=out32))
            calls.append(lambda op=op: op(x32, out=x32[::-1].copy()))
        if "temperature" in op.options:
            calls.append(lambda op=op: op(x32, temperature=0.3))
        if "b" in op.options:
            calls.append(lambda op=op: op(x32, b=b, return_sign=True))

    def bad_call():
        try:
            OPS[0](x32, axis=7)
        except ValueError:
            pass
    calls.append(bad_call)
    return calls


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
        "uordblks", "fordblks", "keepcost")]


def _heap_in_use():
    """Bytes malloc has handed out and not had back (glibc), else None.

    Unlike RSS this sees a leak even when it is served from memory already
    resident (freed by earlier tests)."""
    try:
        libc = ctypes.CDLL(None)
        fn = libc.mallinfo2
    except (OSError, AttributeError):
        return None
    fn.restype = _MallInfo2
    info = fn()
    return info.uordblks + info.hblkhd


# Under AddressSanitizer (scripts/sanitize.sh) freed memory waits in a
# quarantine, so process memory grows without a leak; C leaks are covered
# there by LeakSanitizer in the fuzz harness (fuzz/) instead.
_UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")
needs_plain_malloc = pytest.mark.skipif(
    _UNDER_ASAN or not os.path.exists("/proc/self/statm"),
    reason="memory growth needs /proc and a build without AddressSanitizer")


def _rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@needs_plain_malloc
def test_no_leak_over_100k_calls(rng):
    calls = _many_small_calls(rng)
    total = 100_000
    per_round = total // 5

    def run(k):
        for i in range(k):
            calls[i % len(calls)]()

    run(2_000)                                    # caches, arenas, the pool
    gc.collect()
    # Python objects: tracemalloc over a fifth of the calls
    tracemalloc.start()
    run(1_000)
    gc.collect()
    traced0 = tracemalloc.get_traced_memory()[0]
    run(per_round)
    gc.collect()
    traced1 = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    # a leaked object per call would be >= 56 bytes x 20,000 = 1.1 MB
    assert traced1 - traced0 < 64 * 1024, f"traced memory grew {traced1 - traced0} bytes"
    # everything (C mallocs too): malloc'd bytes and RSS over the remaining
    # calls, per round
    rss, heap = [_rss_bytes()], [_heap_in_use()]
    for _ in range(4):
        run(per_round)
        gc.collect()
        rss.append(_rss_bytes())
        heap.append(_heap_in_use())
    print(f"\nover 80,000 calls: RSS {[r // 1024 for r in rss]} KiB, malloc in use "
          f"{heap} B; tracemalloc growth over 20,000: {traced1 - traced0} B")
    # 80,000 calls: 1 MiB is 13 bytes per call, 64 KiB less than one
    assert rss[-1] - rss[0] < 1 << 20, f"RSS grew: {[r // 1024 for r in rss]} KiB"
    if heap[0] is not None:
        assert heap[-1] - heap[0] < 64 * 1024, f"malloc'd memory grew: {heap}"


@needs_plain_malloc
def test_no_leak_in_split_row_mode(rng):
    # the only path that mallocs in C (per-chunk partials of long rows)
    x = rng.standard_normal((2, 1 << 18)).astype(np.float32)
    out = np.empty_like(x)
    for op in OPS:
        kw = {"out": out} if op.writes_input_shape else {}
        for _ in range(50):
            op(x, threads=2, **kw)
    gc.collect()
    rss0, heap0 = _rss_bytes(), _heap_in_use()
    for _ in range(10):
        for op in OPS:
            kw = {"out": out} if op.writes_input_shape else {}
            for _ in range(100):
                op(x, threads=2, **kw)
    gc.collect()
    rss1, heap1 = _rss_bytes(), _heap_in_use()
    # 3,000 calls; the scratch is ~1 KiB per call, so a leak would be >= 3 MiB
    assert rss1 - rss0 < 1 << 20, f"RSS grew {(rss1 - rss0) / 1024:.0f} KiB"
    if heap0 is not None:
        assert heap1 - heap0 < 64 * 1024, f"malloc'd memory grew {heap1 - heap0} B"
