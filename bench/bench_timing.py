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


def sample_rounds(contestants, counts, schedule, min_rounds, max_rounds, watched, on_round=None):
    """Time the contestants in rounds; returns one list of seconds per call per contestant.

    `schedule` is the order of one round as contestant indices; an index may
    appear more than once (the copy reference is sampled before every op's
    group, as it is the denominator of every ratio). After `min_rounds`, rounds
    go on while a contestant in `watched` is still noisy, up to `max_rounds`
    (peers are not watched: some are bimodal by nature, from their allocations).
    """
    samples = [[] for _ in contestants]
    gc_was_enabled = gc.isenabled()
    gc.disable()  # a collection inside a sample would be charged to one contestant
    try:
        for round_number in range(1, max_rounds + 1):
            for i in schedule:
                contestant = contestants[i]
                if contestant.prepare:
                    contestant.prepare()
                with deadline(f"{contestant.op} {contestant.name}"):
                    samples[i].append(time_calls(contestant.run, counts[i]) / counts[i])
            gc.collect()
            noise, noisiest = max((spread(samples[i]), i) for i in watched) if watched else (0.0, None)
            if on_round:
                on_round(round_number, noise, noisiest)
            if round_number >= min_rounds and noise <= NOISE_LIMIT:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


# Interquartile range / median above which a contestant counts as noisy.
NOISE_LIMIT = 0.15


def spread(samples):
    """Interquartile range / median of some samples."""
    if len(samples) < 2:
        return 0.0
    q1, median, q3 = statistics.quantiles(samples, n=4, method="inclusive")
    return (q3 - q1) / median


def summarize(samples):
    """Median and quartiles of one contestant's samples."""
    ordered = sorted(samples)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {"median_s": statistics.median(ordered), "q1_s": q1, "q3_s": q3}


# ---- how busy the rest of the machine is -----------------------------------------

class CpuMeter:
    """CPU time used by other processes (in CPUs) since the meter was started.

    Reads /proc (Linux); elsewhere it reports None. Busy time of the whole
    machine minus this process's own time is what competes with the benchmark
    (other jobs, a VM neighbour's steal time).
    """

    def __init__(self):
        self.start = self._read()

    @staticmethod
    def _read():
        try:
            with open("/proc/stat") as f:
                lines = f.read().splitlines()
            with open("/proc/self/stat") as f:
                own_fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            return None
        fields = [int(v) for v in lines[0].split()[1:9]]
        # user nice system idle iowait irq softirq steal
        busy = sum(fields) - fields[3] - fields[4]
        total = sum(fields)
        own = int(own_fields[11]) + int(own_fields[12])  # utime + stime, all threads
        cpus = sum(1 for line in lines if line.startswith("cpu") and line[3:4].isdigit())
        return busy, total, own, cpus

    def others(self):
        now = self._read()
        if self.start is None or now is None or now[1] == self.start[1]:
            return None
        busy, total, own, cpus = (b - a for a, b in zip(self.start, now))
        return max(0.0, (busy - own) / total * now[3])


def wait_until_quiet(log, threshold=0.3, max_wait_s=60, step_s=1.0):
    """Wait (a bounded time) while other processes keep a CPU busy.

    Returns (their load in CPUs, seconds waited)."""
    waited = 0.0
    while True:
        meter = CpuMeter()
        time.sleep(step_s)
        load = meter.others()
        if load is None or load <= threshold or waited >= max_wait_s:
            if waited:
                log(f"  (waited {waited:.0f}s for other processes; they now use {load:.2f} CPUs)")
            return load, waited
        if not waited:
            log(f"  other processes use {load:.2f} CPUs: waiting up to {max_wait_s}s for quiet")
        waited += step_s
