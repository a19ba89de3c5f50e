#!/usr/bin/env python3
"""Turns what bench/device-bench.sh recorded into results.md and results.json.

Input (a work folder): rows.tsv, one line per benchmark row:
    id  preset  type  backend  threads  status  seconds  message  json_file  ref_pp  ref_tg
where ref_pp / ref_tg are llama.cpp's figures as "VALUE API" items separated by commas
("655 CUDA,548 Vulkan"), and json_file the `quant bench --json` output (may be missing);
steps.tsv, one line per step: name  status  seconds  message.
Standard library only: the device host has python3 but nothing can be installed there.
"""

import json
import sys
from pathlib import Path


def read_tsv(path):
    if not path.exists():
        return []
    rows = []
    for line in path.read_text(errors="replace").splitlines():
        if line.strip():
            rows.append(line.split("\t"))
    return rows


def parse_references(text):
    """"655 CUDA,548 Vulkan" -> [(655.0, "CUDA"), (548.0, "Vulkan")]."""
    refs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        value, _, api = item.partition(" ")
        try:
            refs.append((float(value), api.strip() or "?"))
        except ValueError:
            pass
    return refs


def load_json(path):
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None


def comparison(ours, refs, backend):
    """Ours against the llama.cpp figure of the same API when there is one, else the first."""
    if ours is None or not refs:
        return "-"
    same = [r for r in refs if r[1].lower() == backend.lower()]
    value, api = (same or refs)[0]
    return f"{ours / value:.3g}x {api}"


def table_row(cells):
    return "| " + " | ".join(cells) + " |"


def backend_cell(row):
    return row["backend"] + (f" ({row['threads']} threads)" if row["threads"] else "")


def reference_text(refs):
    return ", ".join(f"{v:g} {api}" for v, api in refs) or "-"


def test_cells(row, test, refs):
    tps = test["tokens_per_second"]
    gbs = test.get("weight_gigabytes_per_second")
    device = test.get("device")
    return [
        row["preset"], row["type"], backend_cell(row), test["name"],
        f"{tps['mean']:.1f} ± {tps['sd']:.1f}",
        f"{test['ms_per_token']['mean']:.3f}",
        f"{gbs:.1f}" if gbs is not None else "-",
        f"{device['gpu_ms_per_token']['mean']:.3f}" if device else "-",
        f"{device['busy_percent']['mean']:.0f}" if device else "-",
        f"{device['dispatches_per_token']:.0f}" if device else "-",
        reference_text(refs),
        comparison(tps["mean"], refs, row["backend"]),
        "ok: " + row["message"].replace("|", "/") if row["message"] else "ok",
    ]


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: summarize_results.py WORK_DIR OUT_DIR TITLE")
    work, out, title = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    keys = ["id", "preset", "type", "backend", "threads", "status", "seconds", "message",
            "json_file", "ref_pp", "ref_tg"]
    rows = []
    for fields in read_tsv(work / "rows.tsv"):
        fields += [""] * (len(keys) - len(fields))
        row = dict(zip(keys, fields))
        row["bench"] = load_json(row["json_file"]) if row["json_file"] else None
        rows.append(row)
    steps = [dict(zip(["name", "status", "seconds", "message"], f + [""] * 4))
             for f in read_tsv(work / "steps.tsv")]

    lines = [f"# {title}", ""]
    lines += ["| model | type | backend | test | ours t/s | ms/tok | GB/s | GPU ms/tok | GPU busy % "
              "| dispatches/tok | llama.cpp t/s | ours / llama.cpp | status |",
              "| --- | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    for row in rows:
        bench = row["bench"]
        refs = {"pp": parse_references(row["ref_pp"]), "tg": parse_references(row["ref_tg"])}
        if row["status"] == "ok" and bench and bench.get("tests"):
            for test in bench["tests"]:
                lines.append(table_row(test_cells(row, test, refs.get(test["kind"], []))))
        else:
            ref_text = "; ".join(f"{kind} {reference_text(r)}" for kind, r in refs.items() if r)
            message = row["message"].replace("|", "/") or "-"
            lines.append(table_row([row["preset"], row["type"], backend_cell(row)] + ["-"] * 7 +
                                   [ref_text or "-", "-", f"{row['status']}: {message}"]))
    lines += ["",
              "GB/s: weight bytes read per decode token x tg tokens/s (see docs/perf/README.md for "
              "the floors). llama.cpp figures are tg128 / pp512 as given in the issue; the CPU "
              "row's tg is ours over fewer tokens (see the test name).", ""]
    for row in rows:
        bench = row["bench"]
        if bench:
            lines.append(f"- {row['id']}: {bench['model']['file']}, "
                         f"{bench['weight_bytes_per_token'] / 1e6:.1f} MB of weights per decode "
                         f"token, {bench['model']['parameters'] / 1e9:.3f} B parameters")
    lines += ["", "## Steps", "", "| step | status | seconds | message |", "| --- | --- | ---: | --- |"]
    for step in steps:
        lines.append(table_row([step["name"], step["status"], step["seconds"],
                                step["message"].replace("|", "/")]))
    (out / "results.md").write_text("\n".join(lines) + "\n")

    report = {
        "title": title,
        "rows": [{k: row[k] for k in keys if k != "json_file"} | {"bench": row["bench"]}
                 for row in rows],
        "steps": steps,
    }
    (out / "results.json").write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
