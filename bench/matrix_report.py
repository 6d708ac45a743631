"""The attack matrix's summary and markdown: every cell's worst seed and mean, and the issue's bars."""
from __future__ import annotations

import json
import math
import os

import numpy as np

METHODS = ("ucfast", "paper", "spectral_signatures", "activation_clustering", "scan")
BARS = {"mean_auroc": 0.95, "min_auroc": 0.85, "asr_after": 0.10, "clean_removed": 0.05, "clean_data_removed": 0.005}


def _worst(values, lowest=True):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not values:
        return None
    return min(values) if lowest else max(values)


def _mean(values):
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else None


def summarise(runs: list[dict], min_asr: float) -> dict:
    """Per cell: the seeds run, the weakest ASR before, per method the worst and mean AUROC, and for
    ucfast the worst cut (lowest TPR, most clean removed) and the worst ASR after retraining; then the
    bars over the cells whose backdoor took on every seed."""
    cells = {}
    for run in runs:
        cells.setdefault(run["cell"], []).append(run)
    out = {"cells": {}, "min_asr": min_asr}
    for cell, rows in cells.items():
        scored = [r for r in rows if r["score"]]
        asr = [r["score"]["asr_before"] for r in scored]
        row = {"seeds": [r["seed"] for r in rows], "asr_before_min": _worst(asr), "poisoned": asr[0] is not None
               if asr else None, "ca_before_min": _worst([r["score"]["ca_before"] for r in scored])}
        detected = [r["detect"] for r in rows if r["detect"]]
        for m in METHODS:
            au = [d[m]["auroc"] for d in detected if m in d]
            row[m] = {"auroc_min": _worst(au), "auroc_mean": _mean(au)}
        row["ucfast"].update({
            "cut_tpr_min": _worst([d["ucfast"]["cut_tpr"] for d in detected]),
            "clean_removed_max": _worst([d["ucfast"]["clean_removed_share"] for d in detected], lowest=False),
            "flagged": [d["ucfast"].get("flagged") for d in detected]})
        retrained = [r["retrain"] for r in rows if r["retrain"]]
        every = len(retrained) == len(rows)  # a worst seed over some seeds only would flatter the cell
        row["asr_after_max"] = _worst([r["asr_after"] for r in retrained], lowest=False) if every else None
        row["ca_after_min"] = _worst([r["ca_after"] for r in retrained]) if every else None
        row["asr_oracle_max"] = _worst([r["oracle"]["asr_after"] for r in rows if r.get("oracle")], lowest=False)
        row["took"] = bool(row["poisoned"]) and row["asr_before_min"] is not None and row["asr_before_min"] >= min_asr
        out["cells"][cell] = row
    out["named_by"] = _rules(runs)
    took = {c: r for c, r in out["cells"].items() if r["took"]}
    aurocs = [r["ucfast"]["auroc_min"] for r in took.values() if r["ucfast"]["auroc_min"] is not None]
    best_peer = {c: _worst([r[m]["auroc_min"] for m in METHODS[2:]], lowest=False) for c, r in took.items()}
    clean_cells = [r for r in out["cells"].values() if r["poisoned"] is False]
    out["bars"] = {
        "judged": sorted(took), "not_taken": sorted(c for c, r in out["cells"].items() if r["poisoned"] and not r["took"]),
        "mean_auroc (worst seeds)": _mean(aurocs), "min_auroc": _worst(aurocs),
        "cells below the best peer": sorted(c for c, r in took.items() if best_peer[c] is not None
                                            and r["ucfast"]["auroc_min"] is not None
                                            and r["ucfast"]["auroc_min"] < best_peer[c] - 1e-9),
        "asr_after_max": None if any(r["asr_after_max"] is None for r in took.values())
        else _worst([r["asr_after_max"] for r in took.values()], lowest=False),
        "clean_removed_max": _worst([r["ucfast"]["clean_removed_max"] for r in took.values()], lowest=False),
        "clean_data_removed_max": _worst([r["ucfast"]["clean_removed_max"] for r in clean_cells], lowest=False),
    }
    b = out["bars"]
    out["holds"] = {
        f"mean AUROC >= {BARS['mean_auroc']}": None if b["mean_auroc (worst seeds)"] is None
        else b["mean_auroc (worst seeds)"] >= BARS["mean_auroc"],
        f"no cell below AUROC {BARS['min_auroc']}": None if b["min_auroc"] is None else b["min_auroc"] >= BARS["min_auroc"],
        "at least the best peer in every cell": not b["cells below the best peer"],
        f"ASR after retraining <= {BARS['asr_after']:.0%} in every cell": None if b["asr_after_max"] is None
        else b["asr_after_max"] <= BARS["asr_after"],
        f"clean removed <= {BARS['clean_removed']:.0%} in every cell": None if b["clean_removed_max"] is None
        else b["clean_removed_max"] <= BARS["clean_removed"],
        f"clean data: removed <= {BARS['clean_data_removed']:.1%}": None if b["clean_data_removed_max"] is None
        else b["clean_data_removed_max"] <= BARS["clean_data_removed"],
    }
    return out


def _rules(runs: list[dict]) -> dict:
    """{rule: {"classes": flagged classes whose suspect group it named, "mostly_poison": those whose
    cut removed more poisoned samples than not}} over every run's flagged classes."""
    out = {}
    for run in runs:
        for found in ((run["detect"] or {}).get("ucfast", {}).get("named_by") or {}).values():
            tally = out.setdefault(found["rule"] or "none", {"classes": 0, "mostly_poison": 0})
            tally["classes"] += 1
            tally["mostly_poison"] += int((found["poison_share"] or 0.0) > 0.5)
    return out


def _f(v, pct=False):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{100 * v:.1f}%" if pct else f"{v:.3f}"


def markdown(report: dict) -> str:
    cfg, s = report["config"], report["summary"]
    lines = ["# Attack matrix", "", f"Command: `{report['command']}`  ",
             f"Runtime: {report['seconds_total']:.0f} s on {report['machine']['cpu']}"
             f" ({report['machine']['torch_threads']} torch threads), commit {report['commit']}.  ",
             f"Small CNN, {cfg['epochs']} epochs, {cfg['n_train']} training / {cfg['n_test']} test images unless the"
             f" cell says otherwise (bench/matrix_cells.py, its models bench/matrix_models.py); seeds {cfg['seeds']}."
             " Every method ranks the same scores of the same model; ucfast is"
             " `ucfast.select(ucfast.score(loader, model))` with no options.", "",
             "## Ranking: AUROC, worst seed (mean)", "",
             "| cell | ASR before (worst) | ucfast | paper | Spectral Sig. | Activation Cl. | SCAn |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for cell, r in s["cells"].items():
        cols = " | ".join(f"{_f(r[m]['auroc_min'])} ({_f(r[m]['auroc_mean'])})" for m in METHODS)
        lines.append(f"| {cell} | {_f(r['asr_before_min'], True)} | {cols} |")
    lines += ["", "## ucfast's automatic cut and retraining, worst seed", "",
              "ASR without the poison: a model trained on the data with every poisoned sample removed (a"
              " perfect cut), the floor the retrain's ASR can reach.", "",
              "| cell | cut TPR (lowest) | clean removed (most) | classes flagged per seed | CA before | CA after"
              " | ASR after (highest) | ASR without the poison (highest) |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for cell, r in s["cells"].items():
        u = r["ucfast"]
        lines.append(f"| {cell} | {_f(u['cut_tpr_min'])} | {_f(u['clean_removed_max'], True)} | {u['flagged']}"
                     f" | {_f(r['ca_before_min'], True)} | {_f(r['ca_after_min'], True)} | {_f(r['asr_after_max'], True)}"
                     f" | {_f(r['asr_oracle_max'], True)} |")
    b = s["bars"]
    lines += ["", f"## Bars (cells whose backdoor took on every seed, ASR >= {_f(s['min_asr'], True)})", "",
              f"Judged: {', '.join(b['judged']) or 'none'}. Not taken: {', '.join(b['not_taken']) or 'none'}.", "",
              f"Mean AUROC over the cells' worst seeds {_f(b['mean_auroc (worst seeds)'])}, lowest {_f(b['min_auroc'])};"
              f" cells below the best peer: {', '.join(b['cells below the best peer']) or 'none'}; highest ASR after"
              f" {_f(b['asr_after_max'], True)}; most clean removed {_f(b['clean_removed_max'], True)}; on clean data"
              f" {_f(b['clean_data_removed_max'], True)} removed.", "",
              "; ".join(f"{k}: {_verdict(v)}" for k, v in s["holds"].items()) + "."]
    if s.get("named_by"):
        lines += ["", "## Which rule named each flagged class's suspect group", "",
                  "Over every run's flagged classes: the rule (`named_by`), how many classes it named, and in how"
                  " many of them the cut removed more poisoned samples than clean.", "",
                  "| rule | flagged classes | mostly poison removed |", "| --- | --- | --- |"]
        lines += [f"| {rule} | {t['classes']} | {t['mostly_poison']} |" for rule, t in sorted(s["named_by"].items())]
    return "\n".join(lines) + "\n"


def _verdict(held) -> str:
    return "not measured" if held is None else "holds" if held else "FAILS"


def write(report: dict, out: str, render) -> None:
    """OUT.json (the report) and OUT.md (render(report)); the markdown is printed too."""
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out + ".json", "w") as f:
        json.dump(report, f, indent=2)
    text = render(report)
    with open(out + ".md", "w") as f:
        f.write(text)
    print(text)
