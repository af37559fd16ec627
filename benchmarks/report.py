"""Markdown tables from benchmarks/results/results.jsonl: the headline tables of the peer comparison.

For each stack, the latest record of every config is shown, sorted by wall time. For ngffkit rows
a second table gives the speed-up against the fastest peer (overall, and sharded against the
fastest sharded peer) and the peak memory against the peer with the least. Speed-up = peer wall /
ngffkit wall, so 3.0× means three times faster; the project's target is ≥ 3×.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

OK_CHECKS = ("ok", "ok*")


def load_latest(path: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{stack_key: {config: latest record}} (file order = time order)."""
    latest: dict[str, dict[str, dict[str, Any]]] = {}
    if not path.exists():
        return latest
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        rec = json.loads(line)
        latest.setdefault(rec["stack_key"], {})[rec["config"]] = rec
    return latest


def _fmt_format(rec: dict[str, Any]) -> str:
    v = rec.get("verify") or {}
    l0 = v.get("level0") or {}
    zf = l0.get("zarr_format")
    if zf is None:
        return "?"
    sharded = " sharded" if l0.get("shards") else ""
    extra = " (+wk json)" if rec.get("family") == "wk" else ""
    return f"Zarr v{zf}{sharded}, OME {v.get('ome_version', '?')}{extra}"


def _fmt_chunks(rec: dict[str, Any]) -> str:
    l0 = (rec.get("verify") or {}).get("level0") or {}
    if not l0.get("chunks"):
        return "?"
    chunks = "x".join(map(str, l0["chunks"]))
    shards = "x".join(map(str, l0["shards"])) if l0.get("shards") else "none"
    return f"{chunks} / {shards}"


def _fmt_err(rec: dict[str, Any]) -> str:
    v = rec.get("verify") or {}
    mean = v.get("l1_mean_err")
    if mean is None:
        return "–"
    if rec.get("method") == "median":
        return f"{mean:g} (median: {v.get('l1_median_err', float('nan')):g})"
    return f"{mean:g}"


def _check(rec: dict[str, Any]) -> str:
    if rec.get("status") != "ok":
        return f"{rec.get('status', '?').upper()}: {rec.get('note', '')}"
    v = rec.get("verify") or {}
    check = str(v.get("check", "?"))
    if check not in OK_CHECKS and v.get("problems"):
        check += ": " + "; ".join(v["problems"][:2])
    return check


def _wall(rec: dict[str, Any]) -> str:
    n = rec.get("n", 0)
    return f"{rec['wall_s']:.1f}" + (" (1 run)" if n == 1 else "")


def _usable(rec: dict[str, Any]) -> bool:
    return rec.get("status") == "ok" and (rec.get("verify") or {}).get("check") in OK_CHECKS


def stack_table(records: Iterable[dict[str, Any]]) -> list[str]:
    """The headline table; skipped configs are left out (listed by :func:`skipped_notes`)."""
    rows = [r for r in records if r.get("status") != "skipped"]
    rows.sort(key=lambda r: (r.get("status") != "ok", r.get("wall_s", 1e9)))
    head = ("tool (config)", "format", "chunks / shards", "compression", "levels (method)",
            "wall s", "MB/s", "peak mem MiB (tree PSS)", "max 1-proc RSS MiB",
            "CPU s (user+sys)", "output MiB", "files", "check", "l1 vs mean (max abs)")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        name = f"{r['tool']} (`{r['config']}`)"
        if r.get("status") != "ok":
            cells = [name, "", "", r.get("compression", ""), "", "–", "–", "–", "–", "–", "–",
                     "–", _check(r), "–"]  # fmt: skip
        else:
            v = r.get("verify") or {}
            out = r.get("output") or {}
            cells = [
                name, _fmt_format(r), _fmt_chunks(r), r.get("compression", ""),
                f"{v.get('levels', '?')} ({r.get('method')})", _wall(r),
                f"{r['input_bytes'] / 1e6 / r['wall_s']:.1f}",
                f"{r['peak_tree_pss_mib']:.0f}", f"{r['max_rss_mib']:.0f}",
                f"{r['cpu_s']:.1f}", f"{out.get('disk_bytes', 0) / 2**20:.0f}",
                str(out.get("files", "?")), _check(r), _fmt_err(r),
            ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def skipped_notes(records: Iterable[dict[str, Any]]) -> list[str]:
    return [f"- skipped `{r['config']}`: {r.get('note', '')}" for r in records
            if r.get("status") == "skipped"]  # fmt: skip


def ratio_table(records: list[dict[str, Any]]) -> list[str]:
    peers = [r for r in records if r.get("kind") == "peer" and _usable(r)]
    ours = [r for r in records if r.get("kind") == "ngffkit" and r.get("status") != "skipped"]
    if not ours:
        return []
    lines = [
        "| ngffkit config | wall s | vs fastest peer | vs fastest sharded peer | CPU s "
        "(fastest peer's) | peak PSS MiB | vs least-memory peer | check |",
        "|---|---|---|---|---|---|---|---|",
    ]
    fastest = min(peers, key=lambda r: r["wall_s"], default=None)
    fastest_sh = min((r for r in peers if r.get("sharded")), key=lambda r: r["wall_s"],
                     default=None)  # fmt: skip
    leanest = min(peers, key=lambda r: r["peak_tree_pss_mib"], default=None)

    def speedup(ours_rec: dict[str, Any], peer: dict[str, Any] | None) -> str:
        if peer is None:
            return "no peer"
        return f"**{peer['wall_s'] / ours_rec['wall_s']:.2f}×** ({peer['config']} {peer['wall_s']:.1f} s)"

    for r in sorted(ours, key=lambda r: r["config"]):
        if r.get("status") != "ok":
            lines.append(f"| `{r['config']}` | – | – | – | – | – | – | {_check(r)} |")
            continue
        mem = "no peer"
        if leanest is not None:
            mem = (f"{r['peak_tree_pss_mib'] / leanest['peak_tree_pss_mib']:.2f}× "
                   f"({leanest['config']} {leanest['peak_tree_pss_mib']:.0f} MiB)")  # fmt: skip
        sharded_cell = speedup(r, fastest_sh) if r.get("sharded") else "(unsharded)"
        cpu = f"{r['cpu_s']:.1f}" + (f" ({fastest['cpu_s']:.1f})" if fastest else "")
        lines.append(
            f"| `{r['config']}` | {r['wall_s']:.2f} | {speedup(r, fastest)} | {sharded_cell} | "
            f"{cpu} | {r['peak_tree_pss_mib']:.0f} | {mem} | {_check(r)} |"
        )
    lines.append("")
    lines.append("Speed-up = peer wall / ngffkit wall (target ≥ 3×); memory = ngffkit peak tree "
                 "PSS / the smallest peer's (lower is better). Only peers whose output verified "
                 "count. On a busy machine wall times are noisy; CPU s is steadier (see the "
                 "load column of `--detail`).")  # fmt: skip
    return lines


def detail_table(records: list[dict[str, Any]]) -> list[str]:
    head = ("config", "run", "wall s", "sync s", "user s", "sys s", "CPU %", "tree RSS MiB",
            "tree PSS MiB", "max single RSS MiB", "load before", "steps")  # fmt: skip
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in records:
        for run in r.get("runs", []):
            cpu_pct = 100 * run["cpu_s"] / run["wall_s"] if run["wall_s"] else 0
            steps = json.dumps(run.get("steps")) if run.get("steps") else ""
            cells = [r["config"], run["run"], f"{run['wall_s']:.2f}", run["sync_s"],
                     run["user_s"], run["sys_s"], f"{cpu_pct:.0f}", run["peak_tree_rss_mib"],
                     run["peak_tree_pss_mib"], run["max_rss_mib"], run.get("load1_before", ""),
                     steps]  # fmt: skip
            lines.append("| " + " | ".join(map(str, cells)) + " |")
    return lines


def print_report(path: Path, only_stacks: set[str] | None = None, detail: bool = False) -> None:
    latest = load_latest(path)
    if not latest:
        print(f"no results in {path}: run `python benchmarks/run.py peers` first")
        return
    out: list[str] = []
    for key in sorted(latest):
        if only_stacks is not None and key not in only_stacks:
            continue
        records = list(latest[key].values())
        r0 = records[0]
        shape = "x".join(map(str, r0["shape"]))
        out.append(f"**Stack {r0['stack']}** ({r0['dtype']} {shape} = "
                   f"{r0['input_bytes'] / 1e6:.1f} MB input)")  # fmt: skip
        out.append("")
        out.extend(stack_table(records))
        out.append("")
        if notes := skipped_notes(records):
            out.extend([*notes, ""])
        ratios = ratio_table(records)
        if ratios:
            out.append(f"**ngffkit against the peers, stack {r0['stack']}**")
            out.append("")
            out.extend(ratios)
            out.append("")
        if detail:
            out.append(f"Per-run detail, stack {r0['stack']}:")
            out.append("")
            out.extend(detail_table(records))
            out.append("")
    out.append("ok = opens with zarr-python, expected levels and shapes, level-0 slices identical "
               "to the TIFFs, level 1 within 1.0 of the float 2×2×2 mean (median for webknossos); "
               "ok* = the same but array shapes are padded.")  # fmt: skip
    print("\n".join(out))
