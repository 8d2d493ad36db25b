"""The published claims of the leaf study, checked against a reproduction's tables."""

from __future__ import annotations

import pandas as pd

from ..paper import published_results

__all__ = ["check_claims"]


def _gap(table: pd.DataFrame, approach: str, suffix: str) -> float:
    return float(table.loc[approach, f"health_f1{suffix}"] - table.loc[approach, f"species_f1{suffix}"])


def _p_value(statistics: pd.DataFrame, approach: str, reference: str, metric: str) -> float | None:
    if statistics.empty:
        return None
    rows = statistics[
        (statistics["test"] == "corrected t-test")
        & (statistics["metric"] == metric)
        & (statistics["approach"] == approach)
        & (statistics["reference"].str.split(" ").str[0] == reference)
    ]
    return float(rows["p_value"].iloc[0]) if len(rows) else None


def check_claims(summary: pd.DataFrame, statistics: pd.DataFrame) -> pd.DataFrame:
    """Check the claims of Alison, Jonathan and Suhartono (2024) on published and reproduced scores.

    Each row names a claim, whether the published Table II supports it, and whether this
    reproduction's summary does (None where an approach it needs is missing). The gap is the
    health F1 minus the species F1, and "best" means the highest mean F1 over the two tasks.
    Two further rows are not claims of the study: whether the single-task references beat the
    multi-task baseline on some task, and whether F's gain over A is significant here.
    """
    published = published_results()
    ours = summary.rename(columns=lambda column: column.removesuffix("_mean"))
    letters = [index for index in ours.index if len(index) == 1]
    rows = []

    def add(claim: str, in_paper: bool | None, here: bool | None, detail: str) -> None:
        rows.append({"claim": claim, "published": in_paper, "here": here, "detail": detail})

    needed = {"A", "B", "C", "E"}
    if needed <= set(letters):
        gaps = {letter: _gap(ours, letter, "") for letter in sorted(needed)}
        here = all(abs(gaps[letter]) < abs(gaps["A"]) for letter in "BCE")
        detail = ", ".join(f"{letter} {gap:+.3f}" for letter, gap in gaps.items())
    else:
        here, detail = None, "needs A, B, C and E"
    paper_gap = {letter: published.loc[letter, "health_f1"] - published.loc[letter, "species_f1"] for letter in "ABCE"}
    add("each method alone (B, C, E) narrows the gap between the tasks", all(abs(paper_gap[x]) < abs(paper_gap["A"]) for x in "BCE"), here, detail)

    paper_best = str(published["mean_f1"].idxmax())
    if letters:
        our_best = str(ours.loc[letters, "mean_f1"].idxmax())
        add("F (PCGrad + LaSS) has the best mean F1", paper_best == "F", our_best == "F" if "F" in letters else None, f"best here: {our_best}")
    else:
        add("F (PCGrad + LaSS) has the best mean F1", paper_best == "F", None, "no approach finished")

    if {"E", "G", "H"} <= set(letters):
        here = bool(ours.loc["G", "mean_f1"] <= ours.loc["E", "mean_f1"] and ours.loc["H", "mean_f1"] <= ours.loc["E", "mean_f1"])
        detail = ", ".join(f"{x} {ours.loc[x, 'mean_f1']:.3f}" for x in "EGH")
    else:
        here, detail = None, "needs E, G and H"
    in_paper = bool(published.loc["G", "mean_f1"] <= published.loc["E", "mean_f1"] and published.loc["H", "mean_f1"] <= published.loc["E", "mean_f1"])
    add("adding Modulation to PCGrad (G, H) does not raise the mean F1 over E", in_paper, here, detail)

    if "A" in ours.index and "single-task" in ours.index:
        worse = [task for task in ("species", "health") if ours.loc["A", f"{task}_f1"] < ours.loc["single-task", f"{task}_f1"]]
        add("the multi-task baseline A is below single-task training on some task", None, bool(worse), "worse on: " + (", ".join(worse) or "none"))

    p_value = _p_value(statistics, "F", "A", "mean_f1")
    add("F's mean F1 differs from A's at p < 0.05 (corrected t-test)", None, None if p_value is None else p_value < 0.05, "not tested in the study" if p_value is None else f"p = {p_value:.3f}")
    return pd.DataFrame(rows)
