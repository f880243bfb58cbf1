#!/usr/bin/env python3
"""Benchmark softmax_c against hand-written NumPy, SciPy and PyTorch CPU.

Run from anywhere:  python bench/bench.py [--quick] [--ops ...] [--dtypes ...]
Progress goes to stderr; the markdown report goes to stdout and to --markdown,
every measurement to --json, the throughput plot to --plot.
"""

import argparse
import gc
import os
import sys
import time

# NumPy's OpenBLAS starts worker threads that spin for a while after import.
# Nothing here uses BLAS, and on a 2-core machine they take a core away from
# the timed code (seen in perf as blas_thread_server).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import bench_contestants as bc
import bench_report as report
import bench_timing as timing
import bench_workloads as wl

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
RESULTS_DIR = os.path.join(BENCH_DIR, "results")


def log(message="", end="\n"):
    print(message, file=sys.stderr, end=end, flush=True)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true",
                   help="fewer workloads and repeats (about 1-2 minutes, for CI smoke)")
    p.add_argument("--ops", default=",".join(wl.OPS), help="comma-separated ops (default: all)")
    p.add_argument("--dtypes", default=",".join(wl.DTYPES), help="float32,float64")
    p.add_argument("--threads", default="1,all",
                   help="thread counts for softmax_c and torch; 'all' = usable CPUs (default 1,all)")
    p.add_argument("--workloads", default=None,
                   help="comma-separated workload names, e.g. 4096x1024,'4096x1024 axis0' (default: all)")
    p.add_argument("--repeats", type=int, default=None,
                   help="samples per contestant (default 9, quick 5)")
    p.add_argument("--max-repeats", type=int, default=None,
                   help="extra rounds while samples are noisy, up to this many (default repeats + 4; "
                        "quick: none)")
    p.add_argument("--max-wait", type=float, default=None,
                   help="before each workload, wait up to this many seconds while other processes "
                        "keep a CPU busy (default 60, quick 5; at most 4 times that in all)")
    p.add_argument("--min-time", type=float, default=None,
                   help="minimum duration of one sample in seconds (default 0.02, quick 0.01)")
    p.add_argument("--json", default=None, help="default bench/results/latest.json (quick: quick.json)")
    p.add_argument("--markdown", default=None, help="default bench/results/latest.md (quick: quick.md)")
    p.add_argument("--plot", default=None,
                   help="default bench/results/throughput.png (quick: quick.png)")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)

    stem = "quick" if args.quick else "latest"
    args.json = args.json or os.path.join(RESULTS_DIR, f"{stem}.json")
    args.markdown = args.markdown or os.path.join(RESULTS_DIR, f"{stem}.md")
    args.plot = args.plot or os.path.join(RESULTS_DIR, "quick.png" if args.quick else "throughput.png")
    args.repeats = args.repeats or (5 if args.quick else 9)
    args.max_repeats = max(args.repeats, args.max_repeats or args.repeats + (0 if args.quick else 4))
    args.min_time = args.min_time or (0.01 if args.quick else 0.02)
    args.max_wait = args.max_wait if args.max_wait is not None else (5 if args.quick else 60)
    args.waited = 0.0  # seconds spent waiting for quiet so far
    args.ops = _choices(args.ops, wl.OPS, "op")
    args.dtypes = _choices(args.dtypes, wl.DTYPES, "dtype")
    args.thread_counts = _thread_counts(args.threads)
    args.workload_list = _workloads(args.workloads, args.quick)
    return args


def _choices(text, allowed, what):
    chosen = [item.strip() for item in text.split(",") if item.strip()]
    unknown = [item for item in chosen if item not in allowed]
    if unknown or not chosen:
        sys.exit(f"unknown {what}: {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}")
    return chosen


def usable_cpus():
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _thread_counts(text):
    counts = set()
    for item in text.split(","):
        item = item.strip()
        if item == "all":
            counts.add(usable_cpus())
        elif item.isdigit() and int(item) > 0:
            counts.add(int(item))
        elif item:
            sys.exit(f"bad --threads entry {item!r}: use positive integers or 'all'")
    return sorted(counts)


def _workloads(text, quick):
    available = wl.all_workloads(quick=False)
    if text is None:
        return wl.all_workloads(quick)
    by_name = {w.name: w for w in available}
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in by_name]
    if unknown:
        sys.exit(f"unknown workload(s) {unknown}; choose from {list(by_name)}")
    return [by_name[name] for name in names]


# ---- libraries ----------------------------------------------------------------

def import_softmax_c():
    """The installed package if there is one, else the in-place build of this repository."""
    module, reason = bc.try_import("softmax_c")
    if module is None and REPO_DIR not in sys.path:
        for name in [m for m in sys.modules if m == "softmax_c" or m.startswith("softmax_c.")]:
            del sys.modules[name]
        sys.path.insert(0, REPO_DIR)
        module, reason = bc.try_import("softmax_c")
    return module, reason


def load_libraries(ops, notes):
    softmax_c, reason = import_softmax_c()
    if softmax_c is None:
        notes.append(f"softmax_c not importable ({reason}): only peers and references measured")
    elif "cross_entropy" in ops and not hasattr(softmax_c, "cross_entropy"):
        notes.append("softmax_c has no cross_entropy yet (issue 4): only peers measured for it")
    scipy, reason = bc.try_import("scipy")
    special, special_reason = bc.try_import("scipy.special")
    if special is None:
        notes.append(f"scipy.special not importable ({special_reason or reason}): skipped")
    torch, reason = bc.try_import("torch")
    if torch is None:
        notes.append(f"torch not importable ({reason}): skipped")
    matplotlib, _ = bc.try_import("matplotlib")
    versions = {"numpy": np, "scipy": scipy, "torch": torch, "matplotlib": matplotlib}
    return softmax_c, special, torch, versions


# ---- one workload and dtype -------------------------------------------------------

def build_contestants(case, ops, softmax_c, special, torch, thread_counts):
    contestants = bc.reference_contestants(case)
    for op in ops:
        if bc.softmax_c_has(softmax_c, op):
            contestants += bc.softmax_c_contestants(softmax_c, op, case, thread_counts)
        contestants += bc.numpy_contestants(op, case)
        contestants += bc.scipy_contestants(special, op, case)
        contestants += bc.torch_contestants(torch, op, case, thread_counts)
    return contestants


def base_record(case, contestant):
    w = case.workload
    return {
        "workload": w.name, "group": w.group, "shape": list(w.shape), "axis": w.axis,
        "row_length": w.row_length, "last_axis": w.last_axis, "elements": w.size,
        "dtype": case.dtype, "op": contestant.op, "contestant": contestant.name,
        "library": contestant.library, "mode": contestant.mode, "threads": contestant.threads,
        "status": "ok", "error": None,
    }


def check_softmax_c(contestant, case, references, record):
    """Correctness guard: a softmax_c result that differs from NumPy is not timed."""
    op = contestant.op
    if op not in references:
        references[op] = wl.reference_result(op, case.x, case.target, case.workload.axis)
    try:
        with timing.deadline(f"{op} {contestant.name} (correctness check)"):
            result = contestant.run()
    except Exception as exc:
        record.update(status="error", error=f"{type(exc).__name__}: {exc}")
        return False
    ok, max_err, message = wl.compare(op, result, references[op], case.dtype)
    record["check_max_abs_err"] = max_err
    if not ok:
        record.update(status="wrong", error=message)
    return ok


def prepare_contestants(contestants, case, min_time):
    """Check softmax_c results and calibrate everyone; returns records and call counts."""
    references = {}
    records, counts = [], []
    for contestant in contestants:
        record = base_record(case, contestant)
        records.append(record)
        counts.append(None)
        if contestant.library == "softmax_c" and not check_softmax_c(contestant, case, references,
                                                                      record):
            log(f"  !! {contestant.op} {contestant.name}: {record['status']}: {record['error']}")
            continue
        try:
            with timing.deadline(f"{contestant.op} {contestant.name} (calibration)"):
                counts[-1] = timing.calibrate(contestant, min_time)
        except Exception as exc:
            record.update(status="error", error=f"{type(exc).__name__}: {exc}")
            log(f"  !! {contestant.op} {contestant.name}: error: {record['error']}")
    return records, counts


def round_schedule(contestants):
    """One round: references first, then each op's contestants after another copy sample.

    Within an op, multi-threaded PyTorch goes first, so that the copy sample
    never directly follows it (its OpenMP workers may still be spinning)."""
    copy = [i for i, c in enumerate(contestants) if c.name == "np.copyto"]
    schedule = [i for i, c in enumerate(contestants) if c.op == "reference"]
    for op in dict.fromkeys(c.op for c in contestants if c.op != "reference"):
        group = [i for i, c in enumerate(contestants) if c.op == op]
        group.sort(key=lambda i: not (contestants[i].library == "torch"
                                      and (contestants[i].threads or 1) > 1))
        schedule += copy + group
    return schedule


def _log_round(repeats, contestants):
    """Progress: a dot per round; from the last planned round on, the noisiest watched one."""
    def on_round(number, noise, noisiest):
        mark = "." if number <= repeats else "+"
        if number >= repeats and noise > timing.NOISE_LIMIT:
            c = contestants[noisiest]
            mark += f"[{c.op} {c.name} IQR {noise:.0%}]"
        log(mark, end="")
    return on_round


def measure_case(case, contestants, args):
    repeats, max_repeats, min_time = args.repeats, args.max_repeats, args.min_time
    budget = max(0.0, min(args.max_wait, 4 * args.max_wait - args.waited))
    load_before, waited = timing.wait_until_quiet(log, max_wait_s=budget)
    args.waited += waited
    meter = timing.CpuMeter()
    started = time.perf_counter()
    records, counts = prepare_contestants(contestants, case, min_time)
    timed = [i for i, count in enumerate(counts) if count is not None]
    log(f"  checked and calibrated {len(timed)}/{len(contestants)} contestants in "
        f"{time.perf_counter() - started:.1f}s; rounds: ", end="")
    timed_contestants = [contestants[i] for i in timed]
    samples = timing.sample_rounds(timed_contestants, [counts[i] for i in timed],
                                   round_schedule(timed_contestants), repeats, max_repeats,
                                   watched=[i for i, c in enumerate(timed_contestants)
                                            if c.library == "softmax_c" or c.name == "np.copyto"],
                                   on_round=_log_round(repeats, timed_contestants))
    others = meter.others()
    log(f" (other processes: {others:.2f} CPUs)" if others is not None else "")
    for position, i in enumerate(timed):
        records[i].update(timing.summarize(samples[position]))
        records[i]["samples_s"] = samples[position]
        records[i]["calls_per_sample"] = counts[i]
    for record in records:
        record["others_cpu_before"] = load_before
        record["others_cpu_during"] = others
    add_derived(records, case)
    return records


def add_derived(records, case):
    """Throughput and the ratio to np.copyto of the same array in the same run."""
    copy = next((r for r in records if r["contestant"] == "np.copyto" and r["status"] == "ok"), None)
    n = case.workload.size
    counted_bytes = 2 * np.dtype(case.dtype).itemsize * n
    for r in records:
        if r["status"] != "ok":
            continue
        r["ms"] = r["median_s"] * 1e3
        r["gelem_s"] = n / r["median_s"] / 1e9
        r["gb_s"] = counted_bytes / r["median_s"] / 1e9
        r["ratio_copy"] = copy["median_s"] / r["median_s"] if copy else None


def progress_summary(records, ops):
    """One line per op: softmax_c against copy and the best single-thread peer."""
    index = report.Index(records)
    w, dtype = records[0]["workload"], records[0]["dtype"]
    for op in ops:
        parts = []
        mine = index.ok(w, dtype, op, "softmax_c", "out", 1)
        if mine:
            parts.append(f"softmax_c out= 1t {mine['ms']:.3f} ms = {mine['ratio_copy']:.2f}× copy")
        peers = index.peers(w, dtype, op, single_thread=True)
        if peers:
            best = min(peers, key=lambda r: r["median_s"])
            parts.append(f"best 1t peer {best['contestant']} {best['ratio_copy']:.2f}× copy")
        log(f"  {op}: " + ("; ".join(parts) or "nothing measured"))


def load_note(records):
    """How much other processes competed with the benchmark, for judging its noise."""
    per_case = {(r["workload"], r["dtype"]): r.get("others_cpu_during") for r in records}
    loads = [(load, case) for case, load in per_case.items() if load is not None]
    if not loads:
        return "load of other processes: not measurable here"
    worst, (workload, dtype) = max(loads)
    mean = sum(load for load, _ in loads) / len(loads)
    return (f"other processes used {mean:.2f} CPUs on average while workloads ran "
            f"(most: {worst:.2f} during {workload} {dtype})")


# ---- main -------------------------------------------------------------------------

def run(args):
    notes = []
    softmax_c, special, torch, modules = load_libraries(args.ops, notes)
    for note in notes:
        log(f"note: {note}")
    if softmax_c is not None:
        log(f"softmax_c from {getattr(softmax_c, '__file__', '?')}")
    machine = report.machine_info(modules, softmax_c, REPO_DIR)
    cases = [(w, dtype) for w in args.workload_list for dtype in args.dtypes]
    records = []
    started = time.perf_counter()
    for number, (workload, dtype) in enumerate(cases, 1):
        elapsed = time.perf_counter() - started
        eta = f", ~{elapsed / (number - 1) * (len(cases) - number + 1):.0f}s left" if number > 1 else ""
        log(f"[{number}/{len(cases)}] {workload.name} {dtype} (elapsed {elapsed:.0f}s{eta})")
        x, target = wl.make_inputs(workload, dtype, args.seed)
        case = bc.Case(workload, dtype, x, target)
        contestants = build_contestants(case, args.ops, softmax_c, special, torch, args.thread_counts)
        case_records = measure_case(case, contestants, args)
        progress_summary(case_records, args.ops)
        records += case_records
        del case, contestants, x, target
        gc.collect()

    config = {
        "argv": sys.argv[1:], "quick": args.quick, "ops": args.ops, "dtypes": args.dtypes,
        "thread_counts": args.thread_counts, "workloads": [w.name for w in args.workload_list],
        "repeats": args.repeats, "max_repeats": args.max_repeats, "min_time_s": args.min_time,
        "max_wait_s": args.max_wait, "seed": args.seed,
        "duration_s": round(time.perf_counter() - started, 1),
    }
    notes.append(load_note(records))
    targets = report.evaluate_targets(records, args.dtypes, config["workloads"])
    plot_problem = report.draw_plot(args.plot, records, machine)
    if plot_problem:
        notes.append(f"plot skipped: {plot_problem}")
        log(f"note: plot skipped: {plot_problem}")
    markdown = report.markdown_report(records, targets, machine, config, notes)
    report.write_json(args.json, machine, config, notes, records, targets)
    report.write_atomically(args.markdown, markdown + "\n")
    print(markdown)
    log(f"done in {config['duration_s']:.0f}s: {args.markdown}, {args.json}"
        + ("" if plot_problem else f", {args.plot}"))
    return 0


if __name__ == "__main__":
    sys.exit(run(parse_args(sys.argv[1:])))
