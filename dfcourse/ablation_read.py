"""Reading ``results/ablation.json`` against the paper's claims, whatever the file holds when a notebook runs.

``bench/ablation.py`` writes the file run by run (:mod:`dflib.ablation`), so a notebook may meet a grid
with one seed per variant, three, or the old 150-step file. :func:`ablation_verdicts` compares DF-GAN as
published with each variant on each metric (Welch's test of :func:`dflib.ablation.summarise`) and says, in
words, where the paper's claim (Sec. 4.3, arXiv 2008.05865v4: each of MA-GP, the mismatched pairs of Eq. 1
and the stacked DF-Blocks of Sec. 3.4 helps) holds on these data, where the data say the opposite, and where
they cannot tell; :func:`ablation_report` prints the file's budget and seed counts first.

Introduced in ``notebooks/04_ma_gp.ipynb`` (penalties, mismatched pairs) and
``notebooks/05_df_block_fusion.ipynb`` (fusions).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["CLAIMS", "METRICS", "budget_note", "seeds_per_variant", "ablation_verdicts", "ablation_report"]

# variant -> what the paper says DF-GAN as published gains over it (Sec. 4.3; mismatched pairs: Eq. 1)
CLAIMS: dict[str, str] = {
    "no_gp": "MA-GP helps (vs no penalty)",
    "zero_gp": "MA-GP's sentence gradient helps (vs an image-only 0-GP)",
    "no_mismatch": "mismatched pairs help (vs none)",
    "affine": "stacked DF-Blocks help (vs one Affine)",
    "concat": "DF-Blocks help (vs concatenation)",
}
METRICS = ("acc_color", "acc_shape", "acc_size", "acc_position", "diversity_mean")


def budget_note(data: Mapping[str, Any], preset_steps: int) -> str:
    """One line on the file's training budget: the current ``make train`` preset's, or an old one."""
    steps = data.get("steps")
    if steps == preset_steps:
        return f"{steps} steps per run: the make-train preset's budget (shapes-32-cpu, {preset_steps} steps)"
    return (f"{steps} steps per run: an OLD budget, not the make-train preset's {preset_steps} steps; "
            "bench/ablation.py has not yet written the current grid")


def seeds_per_variant(data: Mapping[str, Any]) -> dict[str, int]:
    """How many seeds each variant of the file has (the ``n`` of its first metric)."""
    out = {}
    for name, metrics in data.get("summary", {}).items():
        first = next(iter(metrics.values()), {})
        out[name] = int(first.get("n", 0))
    return out


def ablation_verdicts(data: Mapping[str, Any], variants: Sequence[str] | None = None,
                      metrics: Sequence[str] = METRICS, alpha: float = 0.05) -> list[dict[str, Any]]:
    """One row per (variant, metric): DF-GAN's mean minus the variant's (``diff``, higher = DF-GAN better),
    Welch's two-sided ``p``, both ``n`` and a ``verdict``:

    * ``"holds"``: DF-GAN higher with p < ``alpha``;
    * ``"reversed"``: the variant higher with p < ``alpha``;
    * ``"not shown"``: a difference within the seed-to-seed noise (p >= ``alpha``, or both sides without
      spread, e.g. both at 100%);
    * ``"untested"``: fewer than 2 seeds on a side (no spread to test against; the sign is still given).
    """
    summary = data.get("summary", {})
    ref = summary.get("dfgan", {})
    rows = []
    for name in variants or [v for v in CLAIMS if v in summary]:
        if name not in summary:
            continue
        for m in metrics:
            a, b = ref.get(m), summary[name].get(m)
            if a is None or b is None:
                continue
            diff = float(a["mean"] - b["mean"])
            p = float(b.get("vs_dfgan_p", math.nan))
            if min(a["n"], b["n"]) < 2:
                verdict = "untested"
            elif math.isfinite(p) and p < alpha:
                verdict = "holds" if diff > 0 else "reversed"
            else:
                verdict = "not shown"
            rows.append({"variant": name, "claim": CLAIMS.get(name, name), "metric": m, "diff": diff, "p": p,
                         "n_dfgan": int(a["n"]), "n_variant": int(b["n"]), "verdict": verdict})
    return rows


def ablation_report(data: Mapping[str, Any], preset_steps: int, variants: Sequence[str] | None = None,
                    metrics: Sequence[str] = METRICS, alpha: float = 0.05) -> list[str]:
    """Lines to print: the budget, the seeds per variant, then per claim its verdict on each metric."""
    if "summary" not in data or not data["summary"]:
        return ["no measured ablation yet: results/ablation.json holds no summary"]
    n = seeds_per_variant(data)
    names = list(variants or [v for v in ["dfgan", *CLAIMS] if v in n])
    lines = [budget_note(data, preset_steps),
             "seeds per variant: " + ", ".join(f"{v} {n.get(v, 0)}" for v in names)]
    rows = ablation_verdicts(data, [v for v in names if v != "dfgan"], metrics, alpha)
    for name in dict.fromkeys(r["variant"] for r in rows):
        mine = [r for r in rows if r["variant"] == name]
        parts = []
        for r in mine:
            p = f", p={r['p']:.3f}" if math.isfinite(r["p"]) else ""
            parts.append(f"{r['metric']} {r['diff']:+.3f} {r['verdict']}{p}")
        verdicts = {r["verdict"] for r in mine}
        if verdicts == {"untested"}:
            overall = "cannot be tested yet (1 seed on a side)"
        else:
            overall = ", ".join(f"{v} on {sum(r['verdict'] == v for r in mine)}"
                                for v in ("holds", "reversed", "not shown", "untested")
                                if any(r["verdict"] == v for r in mine)) + f" of {len(mine)} metrics"
        lines.append(f"{CLAIMS.get(name, name)}: {overall}")
        lines.append("    DF-GAN minus variant: " + "; ".join(parts))
    tested = [r for r in rows if r["verdict"] != "untested"]
    if tested:
        lines.append(f"{len(tested)} tests at p < {alpha}: about {alpha * len(tested):.1f} would pass by chance alone")
    return lines
