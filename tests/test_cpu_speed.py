"""bench/cpu_speed.py: the CPU default (fast=auto) against the reference and channels_last alone, interleaved
repeats, ratios and spread from its own timings; the speed table of docs/engineering.md is generated from the
committed JSON."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from dflib.fast import FastOptions

ROOT = Path(__file__).resolve().parents[1]
torch.set_num_threads(1)


@pytest.fixture(scope="module")
def bench(load_bench):
    return load_bench("cpu_speed")


@pytest.fixture(scope="module")
def tiny(bench):
    """A run of the bench on a small model: 2 repeats of 2 timed steps."""
    return bench.run("shapes-32-cpu", batch=2, steps=2, warmup=1, repeats=2, overrides=["model.ngf=8", "model.ndf=8"])


def test_loss_difference_is_relative_with_a_floor_and_only_over_the_first_steps(bench):
    ref = [(2.0, 0.05), (1.0, 1.0), (1.0, 1.0), (9.0, 9.0)]
    assert bench.loss_difference(ref, ref) == 0.0
    # 0.01 off a G loss of 0.05 is measured against the floor 0.1, not against 0.05
    assert bench.loss_difference([(2.0, 0.06)] + ref[1:], ref) == pytest.approx(0.1)
    assert bench.loss_difference([(2.2, 0.05)] + ref[1:], ref) == pytest.approx(0.1)
    assert bench.loss_difference(ref[:3] + [(0.0, 0.0)], ref, first=3) == 0.0  # step 4 is drift, not fidelity


def _check_result(bench, res: dict) -> None:
    """What every result must satisfy: the three settings, each repeat's ratios from its own medians, the
    summary from the repeats, the machine and its load."""
    assert list(res["variants"]) == ["off", "channels_last", "auto"]
    assert res["variants"]["off"]["options"] == [] and res["variants"]["channels_last"]["options"] == ["channels_last"]
    assert all(v["exact"] for v in res["variants"].values())
    reps = res["repeat_results"]
    assert len(reps) == res["repeats"]
    for k, r in enumerate(reps):
        assert sorted(r["order"]) == sorted(res["variants"]) and r["order"][0] == list(res["variants"])[k % 3]
        t = r["s_per_step"]
        assert all(v > 0 for v in t.values())
        assert r["ratio"] == {"auto_vs_off": t["off"] / t["auto"],
                              "channels_last_vs_off": t["off"] / t["channels_last"],
                              "auto_vs_channels_last": t["channels_last"] / t["auto"]}
        assert r["loss_diff"]["off"] == 0.0 and len(r["load_before"]) == len(r["load_after"]) == 3
        assert all(d < 1e-3 for d in r["loss_diff"].values())  # exact options: summation order only
    for name, s in res["summary"].items():
        values = [r["ratio"][name] for r in reps]
        assert s["repeats"] == values and s["mean"] == pytest.approx(statistics.fmean(values))
        assert (s["min"], s["max"]) == (min(values), max(values)) and s["spread"] == pytest.approx(s["max"] - s["min"])
    m = res["machine"]
    assert m["cpu"] and m["physical_cores"] >= 1 and m["torch"].startswith("2.")
    assert len(m["load_before"]) == len(m["load_after"]) == 3
    assert m["loaded"] == (m["load_before"][0] > 0.5) and ("Shared machine" in m["note"]) == m["loaded"]


def test_a_tiny_run_measures_the_default_against_the_reference_and_channels_last(bench, tiny):
    _check_result(bench, tiny)
    assert tiny["variants"]["auto"]["options"] == FastOptions.for_device("cpu").enabled()
    assert tiny["repeat_results"][0]["order"] != tiny["repeat_results"][1]["order"]  # the order rotates
    assert all(len(r["s_per_step"]) == 3 for r in tiny["repeat_results"])
    json.dumps(tiny)  # what --out writes


def test_the_table_shows_every_repeat_the_mean_and_the_spread(bench):
    t = {"off": 0.40, "channels_last": 0.32, "auto": 0.25}
    reps = [{"order": ["off", "channels_last", "auto"], "s_per_step": {k: v * f for k, v in t.items()},
             "ratio": {}, "loss_diff": {"off": 0.0, "channels_last": 1e-6, "auto": 2e-6}} for f in (1.0, 1.5)]
    reps[1]["s_per_step"]["auto"] = 0.5  # the second repeat: auto slower than channels_last
    for r in reps:
        s = r["s_per_step"]
        r["ratio"] = {k: s[a] / s[b] for k, (a, b) in bench.RATIOS.items()}
    res = {"preset": "p", "batch": 16, "threads": 1, "steps": 20, "warmup": 2, "repeat_results": reps,
           "variants": {"off": {"options": []}, "channels_last": {"options": ["channels_last"]},
                        "auto": {"options": ["batched_affine", "channels_last", "fused_adam"]}},
           "summary": bench.summarise([r["ratio"] for r in reps]),
           "machine": {"cpu": "Some CPU", "physical_cores": 2, "torch": "2.x", "load_before": [3.1, 3.0, 3.0],
                       "load_after": [2.9, 3.0, 3.0], "note": "Shared."}}
    table = bench.markdown_table(res)
    assert "Some CPU" in table and "load 3.10 before, 2.90 after" in table and "Shared." in table
    assert "| `off` (reference fp32 step) | 0.400, 0.600 | 0.0e+00 |" in table
    assert "batched_affine, channels_last, fused_adam) | 0.250, 0.500 | 2.0e-06 |" in table
    # auto against channels_last: 0.32/0.25 = 1.28 and 0.48/0.5 = 0.96: mean 1.12, spread 0.96-1.28
    assert "| `auto` against `channels_last` | 1.280, 0.960 | 1.120× | 0.960–1.280 |" in table
    assert table.endswith("faster than `channels_last` alone in 1 of 2 repeats.")
    page = f"before\n{bench.BEGIN}\nold\n{bench.END}\nafter\n"
    new = bench.replace_block(page, table)
    assert new.startswith("before\n") and new.endswith("after\n") and bench.docs_block(new) == table
    with pytest.raises(ValueError):
        bench.replace_block("no markers", table)


def test_the_committed_measurement_is_consistent_and_measured_todays_default(bench):
    res = json.loads((ROOT / "results" / "cpu_speed.json").read_text())
    _check_result(bench, res)
    assert (res["preset"], res["batch"], res["threads"], res["repeats"]) == ("shapes-32-cpu", 16, 1, 3)
    # if the CPU default changes, the committed measurement no longer measures it: run the bench again
    assert res["variants"]["auto"]["options"] == FastOptions.for_device("cpu").enabled()


def test_the_speed_table_in_the_docs_is_generated_from_the_committed_json(bench):
    res = json.loads((ROOT / "results" / "cpu_speed.json").read_text())
    page = (ROOT / "docs" / "engineering.md").read_text()
    assert bench.docs_block(page) == bench.markdown_table(res), (
        "docs/engineering.md's speed table is stale: python bench/cpu_speed.py --from results/cpu_speed.json "
        "--docs docs/engineering.md")
