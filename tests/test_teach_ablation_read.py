"""dfcourse.ablation_read: the ablation file read against the paper's claims, whatever it holds."""

from dflib.ablation import summarise
from dfcourse import ablation_read as A


def _data(values: dict[str, list[float]], steps: int = 4000) -> dict:
    runs = [{"variant": v, "seed": s, "train_seconds": 1.0, "metrics": {"acc_shape": x, "acc_color": 1.0}}
            for v, xs in values.items() for s, x in enumerate(xs)]
    return {"steps": steps, "summary": summarise(runs)}


def test_verdicts_holds_reversed_not_shown_untested():
    data = _data({"dfgan": [0.80, 0.82, 0.81], "no_gp": [0.40, 0.42, 0.41], "concat": [0.95, 0.96, 0.97],
                  "zero_gp": [0.70, 0.90, 0.80], "affine": [0.5]})
    rows = {(r["variant"], r["metric"]): r for r in A.ablation_verdicts(data, metrics=("acc_shape", "acc_color"))}
    assert rows["no_gp", "acc_shape"]["verdict"] == "holds"
    assert rows["concat", "acc_shape"]["verdict"] == "reversed"
    assert rows["zero_gp", "acc_shape"]["verdict"] == "not shown"
    assert rows["affine", "acc_shape"]["verdict"] == "untested" and rows["affine", "acc_shape"]["diff"] > 0
    assert rows["no_gp", "acc_color"]["verdict"] == "not shown"  # both at 100%, no spread: nothing to test


def test_report_names_the_budget_and_the_seeds():
    data = _data({"dfgan": [0.8, 0.7], "no_gp": [0.4, 0.5]})
    lines = A.ablation_report(data, preset_steps=4000)
    assert "make-train preset" in lines[0] and "OLD" not in lines[0]
    assert lines[1] == "seeds per variant: dfgan 2, no_gp 2"
    old = A.ablation_report(_data({"dfgan": [0.8]}, steps=150), preset_steps=4000)
    assert "OLD budget" in old[0]
    assert A.ablation_report({}, 4000)[0].startswith("no measured ablation")
    one = A.ablation_report(_data({"dfgan": [0.8], "no_gp": [0.4]}), 4000)
    assert any("cannot be tested yet" in line for line in one)
