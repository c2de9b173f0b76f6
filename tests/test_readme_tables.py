"""tools/readme_tables.py: the committed README.md, docs/experiments.md and data/README.md hold exactly the
tables the tool writes from the committed results, and the tool notices a changed number on either side."""

from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import readme_tables as rt  # noqa: E402


@pytest.fixture(scope="module")
def src():
    """The repository's inputs, each table computed once for the whole module."""
    return rt.Sources(ROOT)


@pytest.fixture
def copies(tmp_path):
    """The three files the tool writes, copied to ``tmp_path``: ``{FILES key: copy}``."""
    out = {}
    for rel in rt.FILES:
        dest = tmp_path / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / rel, dest)
        out[rel] = dest
    return out


def inputs_copy(tmp_path: Path) -> Path:
    """A root holding copies of the tool's inputs (results, model cards) and the notebooks (linked)."""
    root = tmp_path / "inputs"
    shutil.copytree(ROOT / "results", root / "results", ignore=shutil.ignore_patterns("*.png"))
    for card in (ROOT / "dflib" / "pretrained_models").glob("*/card.json"):
        dest = root / card.relative_to(ROOT)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(card, dest)
    (root / "notebooks").symlink_to(ROOT / "notebooks")
    return root


def test_the_committed_files_are_what_the_tool_writes(src, capsys):
    status = rt.run(check=True, src=src)
    assert status == 0, "run python tools/readme_tables.py:\n" + capsys.readouterr().out[-4000:]


def test_a_changed_number_in_a_copy_fails_the_check_and_writing_restores_it(src, copies):
    rt.run(check=False, targets=copies, src=src)  # the copies as the tool writes them (whatever the repo's state)
    assert rt.run(check=True, targets=copies, src=src) == 0
    readme = copies["README.md"]
    written = readme.read_text()
    card = json.loads((ROOT / "dflib/pretrained_models/shapes-32/card.json").read_text())
    steps = f"{card['steps']:,}"
    region = written[written.index("<!-- table:shipped-models -->"):]
    assert f"| {steps} |" in region[:region.index("<!-- /table -->")]
    changed = written.replace(f"| {steps} |", f"| {card['steps'] + 1:,} |", 1)
    assert changed != written
    readme.write_text(changed)
    assert rt.run(check=True, targets=copies, src=src) == 1
    assert rt.run(check=False, targets=copies, src=src) == 0  # writes the copy back
    assert readme.read_text() == written
    assert rt.run(check=True, targets=copies, src=src) == 0


def test_a_changed_result_changes_its_table(tmp_path, copies):
    root = inputs_copy(tmp_path)
    card_path = root / "dflib/pretrained_models/shapes-32/card.json"
    card = json.loads(card_path.read_text())
    card["metrics"]["shapes"]["accuracy"]["shape"] = 0.5
    card_path.write_text(json.dumps(card))
    src = rt.Sources(root)
    out = rt.w_shipped_models(src)
    assert "shape 50.0%" in out and "shape 96.5%" not in out
    rt.run(check=False, targets=copies)  # the copies as the tool writes them from the repository's results
    assert rt.run(check=True, targets=copies, src=src) == 1


def test_a_missing_file_gives_a_line_not_a_table(tmp_path):
    root = inputs_copy(tmp_path)
    (root / "results" / "ablation.json").unlink()
    for p in (root / "results").glob("make_train_metrics*.json"):
        p.unlink()
    src = rt.Sources(root)
    for out in (rt.w_ablation(src), rt.w_make_train_history(src)):
        assert "is not committed" in out and "|" not in out
    assert "|" not in rt.w_make_train(src)


def _metrics_of_a_run(config: dict) -> dict:
    m = json.loads((ROOT / "results" / "make_train_metrics.json").read_text())
    m = {k: v for k, v in m.items() if k not in ("settings", "calibration")}
    m.update(steps=config["max_steps"], stopped_by_time_limit=False, wall_seconds=700.0, config=config,
             machine={"cpu": "Test CPU 9000", "threads": 2})
    return m


def test_only_runs_of_the_current_preset_enter_the_make_train_table(tmp_path):
    from dflib.config import get_preset

    root = inputs_copy(tmp_path)
    src = rt.Sources(root)
    def rows_of(out: str) -> list[str]:
        return [line for line in out.splitlines() if line.startswith("| `make_train")]

    committed = rows_of(rt.w_make_train(src))  # only the committed runs of the current preset, not earlier versions
    of_preset = {p.name for p in (root / "results").glob("make_train_metrics*.json")
                 if rt.preset_differences(json.loads(p.read_text())) == []}
    assert of_preset and len(committed) == len(of_preset)
    assert all(any(f"`{name}`" in r for name in of_preset) for r in committed)
    config = {**get_preset("shapes-32-cpu").to_dict(), "seed": 7, "threads": 2, "out_dir": "elsewhere"}
    (root / "results" / "make_train_metrics_now.json").write_text(json.dumps(_metrics_of_a_run(config)))
    other = copy.deepcopy(config)
    other["lr_d"] *= 2
    (root / "results" / "make_train_metrics_other.json").write_text(json.dumps(_metrics_of_a_run(other)))
    out = rt.w_make_train(src)
    rows = [r for r in rows_of(out) if r not in committed]
    assert len(rows) == 1 and "make_train_metrics_now.json" in rows[0]
    assert "Test CPU 9000, 2 threads" in rows[0] and f"| {config['max_steps']:,} |" in rows[0]
    assert "5 of 5" in rows[0]  # the committed round-two run's numbers meet every target, and 700 s < 15 min
    assert rt.preset_differences(_metrics_of_a_run(other)) == [f"lr_d={other['lr_d']!r} (now {config['lr_d']!r})"]


def test_a_contradicted_claim_fails(tmp_path):
    root = inputs_copy(tmp_path)
    path = root / "results" / "make_train_tuning_round2.json"
    data = json.loads(path.read_text())
    base = next(r for r in data["runs"] if r["name"] == "base")
    next(r for r in data["runs"] if r["name"] == "ndf8")["accuracy"]["shape"] = base["accuracy"]["shape"] + 0.1
    path.write_text(json.dumps(data))
    with pytest.raises(rt.ClaimError, match="ndf8"):
        rt.w_tuning_round2(rt.Sources(root))


def test_a_missing_or_unknown_region_is_an_error(src):
    with pytest.raises(KeyError, match="missing"):
        rt.render("no regions here\n", ("presets",), src)
    with pytest.raises(KeyError, match="unknown"):
        rt.render("<!-- table:nothing -->\n<!-- /table -->\n", (), src)


def test_collect_adds_the_config_and_the_machine(tmp_path):
    from dflib.config import get_preset

    run = tmp_path / "run"
    run.mkdir()
    config = get_preset("shapes-32-cpu").to_dict()
    (run / "config.json").write_text(json.dumps(config))
    (run / "metrics.json").write_text(json.dumps({"preset": "shapes-32-cpu", "steps": 4000, "threads": 2}))
    m = rt.collect(run, tmp_path / "out.json")
    assert json.loads((tmp_path / "out.json").read_text()) == m
    assert m["config"] == config and m["machine"]["threads"] == 2 and m["machine"]["cpu"]
    assert rt.preset_differences(m) == []
