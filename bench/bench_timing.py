"""Timing: warm-up, calibration, and interleaved sampling.

The machine is shared and noisy, so the contestants of one workload are
sampled in rounds (every contestant once per round, in turn) instead of one
after the other: a slow phase of the machine then hits all of them alike, and
ratios within a workload (to np.copyto, to a peer) stay meaningful.
"""

import contextlib
import faulthandler
import gc
import math
import os
import statistics
import sys
import threading
import time

# A call that has not returned after this long is taken as hung (a deadlock in
# a thread pool, say): the benchmark then stops with a message rather than
# waiting forever in CI. The slowest honest call here takes well under a second.
HANG_TIMEOUT_S = 120


class _Watchdog:
    """Aborts the process when the current activity overruns its deadline."""

    def __init__(self):
        self.label = None
        self.deadline = None
        self.lock = threading.Lock()
        self.thread = None

    def arm(self, label, seconds):
        with self.lock:
            self.label, self.deadline = label, time.monotonic() + seconds
        if self.thread is None:
            self.thread = threading.Thread(target=self._watch, daemon=True)
            self.thread.start()
        # Backstop for a hang that keeps the GIL (the watchdog thread could not run).
        faulthandler.dump_traceback_later(seconds + 30, exit=True)

    def disarm(self):
        faulthandler.cancel_dump_traceback_later()
        with self.lock:
            self.label = self.deadline = None

    def _watch(self):
        while True:
            time.sleep(1)
            with self.lock:
                expired = self.deadline is not None and time.monotonic() > self.deadline
                label = self.label
            if expired:
                print(f"\n!! {label}: no return after {HANG_TIMEOUT_S}s, aborting the benchmark "
                      "(stacks follow)", file=sys.stderr, flush=True)
                faulthandler.dump_traceback(all_threads=True)
                os._exit(3)


_watchdog = _Watchdog()


@contextlib.contextmanager
def deadline(label, seconds=HANG_TIMEOUT_S):
    _watchdog.arm(label, seconds)
    try:
        yield
    finally:
        _watchdog.disarm()


def time_calls(run, count):
    start = time.perf_counter()
    for _ in range(count):
        run()
    return time.perf_counter() - start


def calibrate(contestant, min_time):
    """Warm up, then return how many calls make one sample last >= min_time."""
    if contestant.prepare:
        contestant.prepare()
    contestant.run()  # first call: page faults, thread pools, lazy setup
    count = 1
    while True:
        elapsed = time_calls(contestant.run, count)
        if elapsed >= min_time or elapsed > HANG_TIMEOUT_S / 4:
            return count
        # Aim 30% above the target so that one more try is usually enough.
        estimate = math.ceil(count * 1.3 * min_time / max(elapsed, 1e-7))
        count = max(count + 1, min(estimate, count * 100))


def sample_rounds(contestants, counts, repeats, on_round=None):
    """Time every contestant once per round; returns {index: [seconds per call]}."""
    samples = {i: [] for i in range(len(contestants))}
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a sample would be charged to one contestant
    try:
        for round_index in range(repeats):
            for i, contestant in enumerate(contestants):
                if contestant.prepare:
                    contestant.prepare()
                with deadline(f"{contestant.op} {contestant.name}"):
                    samples[i].append(time_calls(contestant.run, counts[i]) / counts[i])
            if on_round:
                on_round(round_index + 1)
            gc.collect()
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def summarize(samples):
    """Median and quartiles of one contestant's samples."""
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {"median_s": statistics.median(ordered), "q1_s": q1, "q3_s": q3}
