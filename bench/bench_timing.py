"""Timing: warm-up, calibration, and interleaved sampling.

The machine is shared and noisy, so the contestants of one workload are
sampled in rounds (every contestant once per round, in turn) instead of one
after the other: a slow phase of the machine then hits all of them alike, and
ratios within a workload (to np.copyto, to a peer) stay meaningful.
"""

import gc
import math
import statistics
import time


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
        if elapsed >= min_time:
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
