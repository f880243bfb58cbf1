"""Report: markdown tables, the issue targets, machine info, JSON and the plot."""

import datetime
import json
import math
import os
import platform
import subprocess

PEER_LIBRARIES = ("numpy", "scipy", "torch")
# A single-thread run at or above this fraction of np.copyto is "at copy
# speed": the 2-thread target does not apply to it (memory bound already).
AT_COPY_SPEED = 0.9


# ---- looking up measurements --------------------------------------------------

class Index:
    """Contestants' measurements by (workload, dtype, op, library, mode, threads).

    References (np.copyto, np.exp) share such a key, so they are not indexed:
    their ratios are in every record already."""

    def __init__(self, records):
        self.records = records
        self.by_key = {self.key_of(r): r for r in records if r["library"] != "reference"}

    @staticmethod
    def key_of(r):
        return (r["workload"], r["dtype"], r["op"], r["library"], r["mode"], r["threads"])

    def get(self, workload, dtype, op, library, mode, threads):
        return self.by_key.get((workload, dtype, op, library, mode, threads))

    def ok(self, *key):
        record = self.get(*key)
        return record if record and record["status"] == "ok" else None

    def peers(self, workload, dtype, op, single_thread=False):
        found = [r for r in self.records
                 if r["workload"] == workload and r["dtype"] == dtype and r["op"] == op
                 and r["library"] in PEER_LIBRARIES and r["status"] == "ok"]
        if single_thread:
            found = [r for r in found if r["threads"] in (None, 1)]
        return found


# ---- markdown tables ------------------------------------------------------------

def _fmt_ms(seconds):
    ms = seconds * 1e3
    return f"{ms:.3f}" if ms < 10 else f"{ms:.1f}"


def _spread_percent(record):
    return 100 * (record["q3_s"] - record["q1_s"]) / record["median_s"]


def ordered_unique(values):
    return list(dict.fromkeys(values))


def op_table(records, op, dtype):
    """One markdown table: every workload's references, contestants and speed-ups."""
    rows = [r for r in records if r["dtype"] == dtype and r["op"] in (op, "reference")]
    peer_names = ordered_unique(r["contestant"] for r in rows
                                if r["op"] == op and r["library"] in PEER_LIBRARIES)
    header = ["workload", "contestant", "ms", "IQR %", "Gelem/s", "GB/s", "× copy"]
    header += [f"vs {name}" for name in peer_names]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for workload in ordered_unique(r["workload"] for r in rows if r["op"] == op):
        here = [r for r in rows if r["workload"] == workload]
        peers = {r["contestant"]: r for r in here if r["library"] in PEER_LIBRARIES}
        for r in here:
            lines.append("| " + " | ".join(_table_cells(r, peers, peer_names)) + " |")
    return "\n".join(lines)


def _table_cells(record, peers, peer_names):
    cells = [record["workload"], record["contestant"]]
    if record["status"] != "ok":
        problem = "WRONG RESULT" if record["status"] == "wrong" else "ERROR"
        detail = (record.get("error") or "").replace("|", "/").splitlines()[:1]
        cells.append(f"{problem}: {detail[0] if detail else ''}"[:120])
        return cells + [""] * (4 + len(peer_names))
    cells += [_fmt_ms(record["median_s"]), f"{_spread_percent(record):.0f}",
              f"{record['gelem_s']:.2f}", f"{record['gb_s']:.1f}",
              f"{record['ratio_copy']:.2f}" if record.get("ratio_copy") else "—"]
    for name in peer_names:
        peer = peers.get(name)
        if record["library"] == "softmax_c" and peer and peer["status"] == "ok":
            cells.append(f"{peer['median_s'] / record['median_s']:.1f}×")
        else:
            cells.append("")
    return cells


OP_TITLES = {
    "softmax": "softmax",
    "log_softmax": "log_softmax",
    "logsumexp": "logsumexp",
    "cross_entropy": "cross-entropy loss + gradient (integer targets, mean)",
}


def markdown_report(records, targets, machine, config, notes):
    parts = ["# softmax_c benchmark", "", machine_summary(machine, config), ""]
    if notes:
        parts += ["Notes:", ""] + [f"- {note}" for note in notes] + [""]
    parts += [targets_markdown(targets), ""]
    ops = ordered_unique(r["op"] for r in records if r["op"] != "reference")
    for op in ops:
        for dtype in ordered_unique(r["dtype"] for r in records if r["op"] == op):
            parts += [f"## {OP_TITLES.get(op, op)}, {dtype}", "", op_table(records, op, dtype), ""]
    return "\n".join(parts)


def machine_summary(machine, config):
    sc = machine.get("softmax_c") or {}
    info = sc.get("cpu_info") or {}
    versions = ", ".join(f"{k} {v}" for k, v in machine["versions"].items() if v)
    lines = [
        f"- CPU: {machine['cpu_model']} ({machine['logical_cpus']} logical CPUs; "
        f"{' '.join(machine.get('cpu_flags') or [])}; "
        f"{', '.join(f'{k} {v}' for k, v in (machine.get('cpu_caches') or {}).items())}), "
        f"{machine['date']}",
        f"- softmax_c: {sc.get('version', 'not importable')}"
        + (f", ISA {info.get('isa')} (available {info.get('available')})" if info else ""),
        f"- {versions}",
        f"- median of {config['repeats']} to {config['max_repeats']} samples (more while noisy) "
        f"of >= {config['min_time_s'] * 1e3:.0f} ms each, "
        f"contestants of a workload sampled in interleaved rounds; "
        f"GB/s counts 2·itemsize·n bytes; × copy = time(np.copyto) / time; "
        f"vs X = time(X) / time(softmax_c); IQR % = interquartile range / median",
    ]
    return "\n".join(lines)


# ---- targets ------------------------------------------------------------------

ISSUE3_OPS = ("softmax", "log_softmax", "logsumexp")
COPY_TARGETS = {
    # (op group, workloads): {dtype: minimum ratio to np.copyto}
    ("softmax", "rows"): {"float32": 0.70, "float64": 0.50},
    ("softmax", "short"): {"float32": 0.50, "float64": 0.40},
    ("logsumexp", "all"): {"float32": 1.0, "float64": 0.80},
}
TARGET_ROW_WORKLOADS = ("4096x1024", "64x131072", "1x4194304", "4096x1024 axis0")
SHORT_ROW_WORKLOAD = "65536x10"
CE_WORKLOADS = ("64x131072", "4096x1024")
CE_COPY_TARGETS = {"float32": 0.6, "float64": 0.4}
CE_TORCH_SPEEDUP = 5.0  # float32 only
ALLOC_PEER_SPEEDUP = 2.0
THREAD_SPEEDUP = 1.6


def _target(name, op, dtype, workload, measured, required, note=""):
    if measured is None:
        result = "NOT MEASURED"
    else:
        result = "PASS" if measured >= required else "MISS"
    return {"target": name, "op": op, "dtype": dtype, "workload": workload,
            "measured": measured, "required": required, "result": result, "note": note}


def _missing_note(index, workload, dtype, op, library, mode, threads):
    record = index.get(workload, dtype, op, library, mode, threads)
    if record is None:
        return "not run"
    return f"{record['status']}: {(record.get('error') or '')[:80]}"


def evaluate_targets(records, dtypes, workloads):
    index = Index(records)
    targets = []
    for dtype in dtypes:
        targets += _copy_targets(index, dtype, workloads)
    for dtype in dtypes:
        targets += _alloc_targets(index, dtype, workloads)
    for dtype in dtypes:
        targets += _thread_targets(index, dtype, workloads)
    for dtype in dtypes:
        targets += _cross_entropy_targets(index, dtype, workloads)
    return targets


def _copy_ratio_target(index, name, op, dtype, workload, required, library="softmax_c"):
    record = index.ok(workload, dtype, op, library, "out", 1)
    note = "" if record else _missing_note(index, workload, dtype, op, library, "out", 1)
    return _target(name, op, dtype, workload, record and record["ratio_copy"], required, note)


def _copy_targets(index, dtype, workloads):
    name = "× copy, out= 1t"
    targets = []
    for op in ("softmax", "log_softmax"):
        for workload in TARGET_ROW_WORKLOADS + (SHORT_ROW_WORKLOAD,):
            if workload in workloads:
                group = "short" if workload == SHORT_ROW_WORKLOAD else "rows"
                required = COPY_TARGETS[("softmax", group)][dtype]
                targets.append(_copy_ratio_target(index, name, op, dtype, workload, required))
    for workload in (SHORT_ROW_WORKLOAD,) + TARGET_ROW_WORKLOADS:
        if workload in workloads:
            required = COPY_TARGETS[("logsumexp", "all")][dtype]
            targets.append(_copy_ratio_target(index, name, "logsumexp", dtype, workload, required))
    return targets


def _alloc_targets(index, dtype, workloads):
    """Allocating softmax_c (1 thread) against the fastest single-thread peer."""
    name = "alloc 1t vs fastest 1t peer"
    targets = []
    for op in ISSUE3_OPS:
        for workload in workloads:
            mine = index.ok(workload, dtype, op, "softmax_c", "alloc", 1)
            peers = index.peers(workload, dtype, op, single_thread=True)
            if not mine or not peers:
                note = ("no peer measured" if mine else
                        _missing_note(index, workload, dtype, op, "softmax_c", "alloc", 1))
                targets.append(_target(name, op, dtype, workload, None, ALLOC_PEER_SPEEDUP, note))
                continue
            best = min(peers, key=lambda r: r["median_s"])
            targets.append(_target(name, op, dtype, workload, best["median_s"] / mine["median_s"],
                                   ALLOC_PEER_SPEEDUP, f"fastest peer: {best['contestant']}"))
    return targets


def _thread_targets(index, dtype, workloads):
    """out= with 2 threads against out= with 1, unless 1 thread is at copy speed."""
    name = "2t vs 1t, out="
    targets = []
    for op in ISSUE3_OPS:
        for workload in workloads:
            one = index.ok(workload, dtype, op, "softmax_c", "out", 1)
            two = index.ok(workload, dtype, op, "softmax_c", "out", 2)
            if not one or not two:
                missing = (1, "out") if not one else (2, "out")
                note = _missing_note(index, workload, dtype, op, "softmax_c", missing[1], missing[0])
                targets.append(_target(name, op, dtype, workload, None, THREAD_SPEEDUP, note))
                continue
            target = _target(name, op, dtype, workload, one["median_s"] / two["median_s"],
                             THREAD_SPEEDUP)
            if one["ratio_copy"] >= AT_COPY_SPEED:
                target["result"] = "N/A"
                target["note"] = f"1t already at {one['ratio_copy']:.2f}× copy"
            targets.append(target)
    return targets


def _cross_entropy_targets(index, dtype, workloads):
    op = "cross_entropy"
    targets = []
    for workload in CE_WORKLOADS:
        if workload not in workloads:
            continue
        targets.append(_copy_ratio_target(index, "× copy, grad_out= 1t", op, dtype, workload,
                                          CE_COPY_TARGETS[dtype]))
        if dtype != "float32":
            continue
        mine = index.ok(workload, dtype, op, "softmax_c", "out", 1)
        torch1 = index.ok(workload, dtype, op, "torch", "alloc", 1)
        measured = mine and torch1 and torch1["median_s"] / mine["median_s"]
        note = "" if measured else ("torch not measured" if mine else
                                    _missing_note(index, workload, dtype, op, "softmax_c", "out", 1))
        targets.append(_target("grad_out= 1t vs torch fwd+bwd 1t", op, dtype, workload,
                               measured, CE_TORCH_SPEEDUP, note))
    return targets


def _target_group_tally(targets):
    """PASS count per target, op and dtype, with the worst measured value."""
    lines = ["| target | op | dtype | PASS | of | worst measured (workload) |", "|---|---|---|---|---|---|"]
    groups = ordered_unique((t["target"], t["op"], t["dtype"]) for t in targets)
    for name, op, dtype in groups:
        members = [t for t in targets if (t["target"], t["op"], t["dtype"]) == (name, op, dtype)]
        judged = [t for t in members if t["result"] in ("PASS", "MISS")]
        passed = sum(t["result"] == "PASS" for t in judged)
        worst = min(judged, key=lambda t: t["measured"] / t["required"], default=None)
        worst_text = f"{worst['measured']:.2f} ({worst['workload']})" if worst else "—"
        lines.append(f"| {name} | {op} | {dtype} | {passed} | {len(judged)} | {worst_text} |")
    return lines


def targets_markdown(targets):
    tally = {}
    for t in targets:
        tally[t["result"]] = tally.get(t["result"], 0) + 1
    counts = ", ".join(f"{n} {result}" for result, n in sorted(tally.items()))
    lines = ["## Targets (issues 3 and 4)", "", f"{counts or 'no targets evaluated'}", ""]
    lines += _target_group_tally(targets) + ["",
             "| target | op | dtype | workload | measured | required | result | note |",
             "|---|---|---|---|---|---|---|---|"]
    for t in targets:
        measured = "—" if t["measured"] is None else f"{t['measured']:.2f}"
        lines.append(f"| {t['target']} | {t['op']} | {t['dtype']} | {t['workload']} | {measured} "
                     f"| ≥ {t['required']:.2f} | {t['result']} | {t['note']} |")
    return "\n".join(lines)


# ---- machine info -------------------------------------------------------------

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


SIMD_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512bw", "avx512dq", "avx512vl", "asimd", "sve")


def cpu_flags():
    """The SIMD extensions the kernel reports (which ISA variants can run)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    present = set(line.split(":", 1)[1].split())
                    return [flag for flag in SIMD_FLAGS if flag in present]
    except OSError:
        pass
    return None


def cpu_caches():
    """Cache sizes of CPU 0 by level, e.g. {"L1d": "32K", "L2": "1024K", "L3": "32768K"}."""
    caches = {}
    base = "/sys/devices/system/cpu/cpu0/cache"
    try:
        for entry in sorted(os.listdir(base)):
            def read(name):
                with open(os.path.join(base, entry, name)) as f:
                    return f.read().strip()
            kind = read("type")
            if kind == "Instruction":
                continue
            caches[f"L{read('level')}" + ("d" if kind == "Data" else "")] = read("size")
    except OSError:
        pass
    return caches or None


def git_commit(repo_dir):
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo_dir, capture_output=True,
                             text=True, timeout=10)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def machine_info(modules, softmax_c, repo_dir):
    versions = {"python": platform.python_version()}
    for name, module in modules.items():
        versions[name] = getattr(module, "__version__", None) if module else None
    info = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu_model": cpu_model(),
        "cpu_flags": cpu_flags(),
        "cpu_caches": cpu_caches(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "platform": platform.platform(),
        "versions": versions,
        "git_commit": git_commit(repo_dir),
        "env": {k: v for k, v in os.environ.items()
                if k.startswith("SOFTMAX_C") or k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")},
        "softmax_c": None,
    }
    if softmax_c is not None:
        sc = {"version": getattr(softmax_c, "__version__", None),
              "file": getattr(softmax_c, "__file__", None)}
        try:
            sc["cpu_info"] = softmax_c.cpu_info()
        except Exception as exc:
            sc["cpu_info_error"] = f"{type(exc).__name__}: {exc}"
        info["softmax_c"] = sc
    return info


# ---- files --------------------------------------------------------------------

def write_atomically(path, text):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_json(path, machine, config, notes, records, targets):
    payload = {"machine": machine, "config": config, "notes": notes,
               "results": records, "targets": targets}
    write_atomically(path, _json_text(_rounded(payload)))


def _json_text(payload):
    """JSON with one measurement (or target) per line: compact, and diffs stay readable."""
    fields = []
    for key, value in payload.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            rows = ",\n  ".join(json.dumps(item, separators=(",", ":"), default=str) for item in value)
            fields.append(f" {json.dumps(key)}: [\n  {rows}\n ]")
        else:
            fields.append(f" {json.dumps(key)}: {json.dumps(value, default=str)}")
    return "{\n" + ",\n".join(fields) + "\n}\n"


def _rounded(value, digits=5):
    """Floats to `digits` significant digits: timings are not more precise than that."""
    if isinstance(value, float):  # NaN and inf are not JSON
        return float(f"{value:.{digits}g}") if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v, digits) for v in value]
    return value


# ---- plot -----------------------------------------------------------------------

def draw_plot(path, records, machine):
    """Throughput vs row length (last-axis workloads), one panel per op and dtype.

    Returns None on success, or the reason the plot was skipped."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except Exception as exc:
        return f"matplotlib not importable ({type(exc).__name__}: {exc})"
    ok = [r for r in records if r["status"] == "ok" and r["last_axis"]]
    ops = ordered_unique(r["op"] for r in ok if r["op"] != "reference")
    dtypes = ordered_unique(r["dtype"] for r in ok)
    if not ops or not dtypes:
        return "nothing to plot"
    names = ordered_unique(r["contestant"] for r in ok)
    fig, axes = plt.subplots(len(ops), len(dtypes), figsize=(6.5 * len(dtypes), 3.8 * len(ops)),
                             squeeze=False, sharex=True)
    for row, op in enumerate(ops):
        for col, dtype in enumerate(dtypes):
            _plot_panel(axes[row][col], ok, op, dtype, names)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8)
    fig.suptitle(f"Throughput vs row length, reduced over the last axis (4M elements per workload; "
                 f"8M for 64x131072, 655k for rows of 10) — {machine['cpu_model']}", fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97))
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return None


# Line styles: softmax_c in warm colours (1 thread dark, more threads light;
# allocating dashed), peers in cool ones, references as grey dashes.
LIBRARY_COLORS = {"numpy": "tab:blue", "scipy": "tab:green", "torch": "tab:purple"}


def _line_style(record):
    name, threads = record["contestant"], record["threads"]
    if name == "np.copyto":
        return {"color": "black", "linestyle": "--", "linewidth": 1.2}
    if name == "np.exp":
        return {"color": "grey", "linestyle": "--", "linewidth": 1.2}
    many = threads is not None and threads > 1
    if record["library"] == "softmax_c":
        return {"color": "tab:orange" if many else "darkred", "marker": "o", "markersize": 3,
                "linewidth": 2.0, "linestyle": ":" if record["mode"] == "alloc" else "-"}
    return {"color": LIBRARY_COLORS.get(record["library"], "tab:brown"), "marker": ".",
            "linewidth": 1.3, "linestyle": "-." if many else "-"}


def _plot_panel(ax, records, op, dtype, names):
    for name in names:
        mine = [r for r in records if r["dtype"] == dtype and r["contestant"] == name
                and r["op"] in (op, "reference")]
        if not mine:
            continue
        points = sorted((r["row_length"], r["gelem_s"]) for r in mine)
        ax.plot([p[0] for p in points], [p[1] for p in points], label=name, **_line_style(mine[0]))
    ax.set_xscale("log", base=2)
    lengths = sorted({r["row_length"] for r in records})
    ax.set_xticks(lengths, [_short_count(n) for n in lengths], fontsize=8)
    ax.minorticks_off()
    ax.set_yscale("log")
    ax.set_title(f"{op}, {dtype}", fontsize=10)
    ax.set_xlabel("row length")
    ax.set_ylabel("Gelem/s")
    ax.grid(True, which="both", alpha=0.3)


def _short_count(n):
    for size, suffix in ((1 << 20, "M"), (1 << 10, "k")):
        if n >= size and n % size == 0:
            return f"{n // size}{suffix}"
    return str(n)
