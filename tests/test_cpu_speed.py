"""bench/cpu_speed.py and the speed table in docs/engineering.md, which must equal the committed JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


def test_variants_reference_first_then_options_alone_then_combinations_per_thread(load_bench):
    b = load_bench("cpu_speed")
    rows = b.variants([1, 2], compile_too=False)
    assert rows[0] == (1, "off")
    assert (1, "channels_last") in rows and (1, "fused_adam") in rows and (2, "off") in rows
    assert not any("compile" in v for _, v in rows)
    assert (2, "channels_last,batched_affine,fused_adam,compile") in b.variants([1, 2], compile_too=True)
    assert [t for t, _ in rows] == sorted(t for t, _ in rows)  # grouped by thread count


def test_loss_difference_is_relative_with_a_floor_and_only_over_the_first_steps(load_bench):
    b = load_bench("cpu_speed")
    ref = [(2.0, 0.05), (1.0, 1.0), (1.0, 1.0), (9.0, 9.0)]
    assert b.loss_difference(ref, ref) == 0.0
    # 0.01 off a G loss of 0.05 is measured against the floor 0.1, not against 0.05
    assert b.loss_difference([(2.0, 0.06)] + ref[1:], ref) == pytest.approx(0.1)
    assert b.loss_difference([(2.2, 0.05)] + ref[1:], ref) == pytest.approx(0.1)
    assert b.loss_difference(ref[:3] + [(0.0, 0.0)], ref, first=3) == 0.0  # step 4 is drift, not fidelity


def test_a_tiny_run_times_every_variant_and_exact_options_keep_the_losses(load_bench):
    b = load_bench("cpu_speed")
    res = b.run("shapes-32-cpu", batch=2, steps=1, warmup=1, threads=[1], compile_too=False)
    names = [r["fast"] for r in res["rows"]]
    assert names == [v for _, v in b.variants([1], False)]
    ref = res["rows"][0]
    assert ref["speedup"] == 1.0 and ref["loss_diff"] == 0.0
    for r in res["rows"]:
        assert r["s_per_step"] > 0 and r["steps_per_min"] == pytest.approx(60 / r["s_per_step"])
        # the first step's losses (same weights, same batch) differ by summation order only; after an Adam
        # update they may differ more (its first step is sign(g) for gradients near zero)
        if r["exact"]:
            assert r["loss_diff_step1"] < 1e-3, r
    exact = max(r["loss_diff_step1"] for r in res["rows"] if r["exact"])
    assert any(not r["exact"] and r["loss_diff_step1"] > 10 * exact for r in res["rows"])  # bf16 changes the maths
    assert "steps/min" in b.format_table(res)


def _doc_rows() -> list[list[str]]:
    text = (ROOT / "docs" / "engineering.md").read_text()
    block = text[text.index("| threads | speed options |"):].split("\n\n")[0].splitlines()[2:]
    return [[c.strip() for c in line.strip("|").split("|")] for line in block]


def test_the_speed_table_in_the_docs_is_the_committed_measurement():
    res = json.loads((ROOT / "results" / "cpu_speed.json").read_text())
    rows = _doc_rows()
    assert len(rows) == len(res["rows"])
    for doc, r in zip(rows, res["rows"]):
        assert doc == [str(r["threads"]), r["fast"].replace(",", ", "), "yes" if r["exact"] else "no",
                       f"{r['s_per_step']:.3f}", f"{r['steps_per_min']:.0f}", f"{r['speedup']:.2f}×",
                       f"{r['loss_diff']:.1e}"]
    text = (ROOT / "docs" / "engineering.md").read_text()
    exact_1 = max(r["speedup"] for r in res["rows"] if r["exact"] and r["threads"] == 1)
    best = max(r["speedup"] for r in res["rows"])
    assert f"exact options at one thread {exact_1:.2f}×" in text
    assert f"up to {best:.2f}×" in text
    assert res["cpu"] in " ".join(text.split())  # the machine is named
    ref2 = next(r for r in res["rows"] if r["threads"] == 2 and r["fast"] == "off")
    assert f"reference {ref2['speedup']:.2f}×" in text
    readme = " ".join((ROOT / "README.md").read_text().split())
    assert f"the exact options gave {exact_1:.2f}× at one thread and all options up to {best:.2f}×" in readme
    # the CPU default of fast=on is the exact combination that measured fastest at one thread
    from dflib.fast import FastOptions

    best_exact = max((r for r in res["rows"] if r["exact"] and r["threads"] == 1 and "compile" not in r["fast"]),
                     key=lambda r: r["speedup"])
    assert set(FastOptions.for_device("cpu").enabled()) == set(best_exact["fast"].split(","))


def test_the_side_by_side_sentence_is_the_committed_run():
    r = json.loads((ROOT / "results" / "cpu_side_by_side.json").read_text())
    o, n = r["runs"]["old"], r["runs"]["new"]
    assert o["fast"] == [] and set(n["fast"]) == {"batched_affine", "channels_last", "fused_adam"}
    assert n["calibration"]["threads"] == n["threads"] and r["ratio"] == round(n["steps_per_s"] / o["steps_per_s"], 3)
    assert r["ratio"] > 1  # the new default took more steps in the same time
    text = " ".join((ROOT / "docs" / "engineering.md").read_text().split())
    assert (f"made {o['steps_per_s']:.2f} steps/s and the new, calibrated default {n['steps_per_s']:.2f} steps/s: "
            f"{r['ratio']:.2f}× as many, or {r['steps_in_11.5_min']['old']:,} against "
            f"{r['steps_in_11.5_min']['new']:,} steps") in text
