"""Every table of README.md, docs/experiments.md and data/README.md that holds a measured number or a
preset's settings, written from the committed file that holds it.

    python tools/readme_tables.py            # rewrite the regions between the markers
    python tools/readme_tables.py --check    # exit 1, with a diff, if a file differs from what it would write
    python tools/readme_tables.py --collect runs/<folder> results/make_train_metrics_<name>.json
        # a finished run's metrics.json, with its config.json and this machine's CPU, ready to commit

A region is the text between ``<!-- table:NAME -->`` and ``<!-- /table -->``; NAME is a key of
:data:`WRITERS`, and :data:`FILES` says which regions each file must have. A writer reads its inputs
(``results/*.json``, ``dflib/pretrained_models/*/card.json``, the notebooks' execution records, the presets of
``dflib/config.py``) and returns markdown that names the file and the machine its numbers came from. A missing
file gives a line saying so instead of a table. Where the prose around a table states a direction ("a
narrower D did not help"), the writer checks it on the numbers and raises :class:`ClaimError` when they
contradict it, so ``--check`` fails.
"""

from __future__ import annotations

import argparse
import difflib
import json
import math
import re
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
sys.path.insert(0, str(ROOT))

MARK = re.compile(r"(<!-- table:([a-z0-9-]+) -->\n)(.*?)(<!-- /table -->)", re.S)

# the regions each file must hold (a region deleted by hand is an error, not a silent skip)
FILES: dict[str, tuple[str, ...]] = {
    "README.md": ("curriculum", "presets", "make-train", "shipped-models", "ablation", "cpu-speed"),
    "docs/experiments.md": ("targets", "make-train-history", "tuning-round1", "text-norms", "tuning-round2",
                            "learning-curve"),
    "data/README.md": ("shapes-preset", "emoji-counts"),
}

# what a make-train run of this version was asked to reach (the targets the tuning in docs/experiments.md
# worked towards): accuracy on stated attributes, mean diversity, and the whole command's wall time
TARGETS = {"color": 0.95, "shape": 0.80, "position": 0.80, "diversity_mean": 0.50, "wall_minutes": 15}

ATTR_NAMES = {"color": "colour", "shape": "shape", "size": "size", "position": "position",
              "background": "background", "group": "group", "subgroup": "subgroup", "skin_tone": "skin tone",
              "colour": "colour"}

# the make-train runs of earlier versions of the preset, oldest first, with what the file itself does not say
MAKE_TRAIN_LABELS = {
    "make_train_metrics_minilm.json": "MiniLM sentence vectors ×5 (the first preset)",
    "make_train_metrics_bow_lr4.json": "bag of words ×1, lr 4e-4 for G and D",
    "make_train_metrics_round1.json": "round-one preset",
    "make_train_metrics_round1_13min.json": "round-one preset, 13 minutes",
    "make_train_metrics.json": "round-two preset (D's lr ×4)",
    "make_train_metrics_seed1.json": "round-two preset, seed 1",
    "make_train_metrics_4000steps.json": "4,000 steps, 1 thread, shared machine",
    "make_train_metrics_4000steps_idle.json": "`make train` as written (4,000 steps, 2 threads), idle machine",
}

PRESET_USE = {  # what each preset is for (prose; every number in its row comes from dflib/config.py)
    "shapes-32-cpu": "`make train`: the bundled procedural shapes on a laptop CPU",
    "emoji-32": "the bundled Twemoji art (CC-BY 4.0) on a CPU",
    "emoji-64": "Twemoji at 64 px with MiniLM sentences, for a GPU (on a CPU add `--max-steps N`)",
    "birds-256": "CUB-200 with the paper's settings (data/README.md), GPU",
    "coco-256": "COCO with the paper's settings, several GPUs (`torchrun`)",
}


class ClaimError(AssertionError):
    """The committed numbers contradict what the prose around a table says."""


def claim(ok: bool, what: str) -> None:
    if not ok:
        raise ClaimError(what)


# --------------------------------------------------------------------------------------------------
# inputs and formatting
# --------------------------------------------------------------------------------------------------


class Sources:
    """The inputs, read from ``root`` (the repository, or a copy of its inputs in a test)."""

    def __init__(self, root: Path | str = ROOT):
        self.root = Path(root)
        self.cache: dict[str, str] = {}

    def json(self, rel: str) -> Any | None:
        path = self.root / rel
        return json.loads(path.read_text()) if path.is_file() else None

    def glob(self, pattern: str) -> list[Path]:
        return sorted(self.root.glob(pattern))


def pct(x: float | None) -> str:
    return "–" if x is None else f"{x:.1%}"


def f2(x: float | None) -> str:
    return "–" if x is None else f"{x:.2f}"


def minutes(seconds: float | str) -> str:
    if not isinstance(seconds, (int, float)):  # a card may say "see note"
        return str(seconds)
    return f"{seconds / 60:.0f} min" if seconds >= 600 else f"{seconds / 60:.1f} min"


def lr(x: float) -> str:
    return f"{x:.1e}".replace(".0e", "e").replace("e-0", "e-")


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def missing(rel: str, what: str) -> str:
    return f"*No {what}: `{rel}` is not committed.*"


def varied(block: dict) -> list[str]:
    """The attributes of an evaluation block that vary in the data (chance below 1) and that captions state."""
    chance, stated = block.get("chance", {}), block.get("n_stated", {})
    return [k for k, v in block.get("accuracy", {}).items()
            if v is not None and (chance.get(k) or 0) < 1 and (stated.get(k) or 0) > 0]


def fid_text(fid: dict | None) -> str:
    return "–" if not fid else f"{fid['fid']:.0f} ({fid['fid_floor']:.0f}), n = {fid['n']}"


def targets_met(m: dict) -> tuple[int, int]:
    """(met, of) for :data:`TARGETS` on a make-train metrics dict (``shapes`` block and ``wall_seconds``)."""
    s = m["shapes"]
    checks = [s["accuracy"][k] >= TARGETS[k] for k in ("color", "shape", "position")]
    checks.append(s["diversity_mean"] >= TARGETS["diversity_mean"])
    checks.append(m["wall_seconds"] <= 60 * TARGETS["wall_minutes"])
    return sum(checks), len(checks)


def machine_of(m: dict) -> str:
    """The machine a metrics file names: its CPU (if recorded) and torch threads."""
    mach = m.get("machine") or {}
    cpu = mach.get("cpu") if isinstance(mach, dict) else mach
    threads = m.get("threads", mach.get("threads") if isinstance(mach, dict) else None)
    parts = [cpu or "CPU not recorded"]
    if threads is not None:
        parts.append(f"{threads} thread{'s' if threads != 1 else ''}")
    return ", ".join(parts)


def t2_ms(m: dict) -> str:
    """The calibration's fastest 2-thread step in ms (recorded by the calibration the CLI ran before it was
    removed), or a dash."""
    sec = (m.get("calibration") or {}).get("seconds_per_step") or {}
    t2 = [v for k, v in sec.items() if k.startswith("t2")]
    return f"{1000 * min(t2):.0f} ms" if t2 else "–"


# --------------------------------------------------------------------------------------------------
# make train
# --------------------------------------------------------------------------------------------------

# settings that say how a run reports or where it runs, not what it computes
_NOT_THE_PRESET = {"seed", "device", "threads", "out_dir", "progress", "tensorboard", "log_every", "sample_every",
                   "save_every", "keep_last", "n_sample_rows", "sample_every_epochs", "save_every_epochs"}


def _flat(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict) and k != "options":
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def preset_differences(m: dict) -> list[str] | None:
    """The settings in which the run of metrics file ``m`` differs from its preset as committed now (seed and
    reporting aside), or None when the file does not record them."""
    from dflib.config import TRAIN_PRESETS

    cfg = TRAIN_PRESETS.get(m.get("preset", ""))
    if cfg is None:
        return None
    now = _flat(cfg.to_dict())
    if isinstance(m.get("config"), dict):  # written by --collect from the run's config.json
        ran = _flat(m["config"])
        keys = [k for k in now if k not in _NOT_THE_PRESET]
    elif isinstance(m.get("settings"), dict):  # the hand-recorded settings of the earlier runs
        ran = {("model.ndf" if k == "ndf" else k): v for k, v in m["settings"].items()}
        keys = [k for k in ran if k in now and k not in _NOT_THE_PRESET]
        if "max_steps" not in ran:  # those runs stopped on time, not on steps
            ran["max_steps"], keys = 0, keys + ["max_steps"]
    else:
        return None
    return [f"{k}={ran.get(k)!r} (now {now[k]!r})" for k in keys if ran.get(k) != now[k]]


def make_train_files(src: Sources) -> list[Path]:
    """``results/make_train_metrics*.json``: the known ones in the order they were made, then any others."""
    found = {p.name: p for p in src.glob("results/make_train_metrics*.json")}
    known = [found.pop(n) for n in MAKE_TRAIN_LABELS if n in found]
    return known + sorted(found.values())


def settings_text(m: dict) -> str:
    s = m.get("config") or m.get("settings") or {}
    if not s:
        return "not recorded"
    ndf = s.get("ndf", (s.get("model") or {}).get("ndf"))
    stop = (f"{s['time_limit_min']:g} min" if s.get("time_limit_min") else
            f"{s['max_steps']:,} steps" if s.get("max_steps") else "–")
    return (f"lr {lr(s['lr_g'])} / {lr(s['lr_d'])}, text ×{s['text_scale']:g}, batch {s['batch_size']}, "
            f"ndf {ndf}, {stop}, seed {s['seed']}")


def make_train_row(name: str, m: dict, label: str | None = None) -> list[str]:
    s = m["shapes"]
    a, d = s["accuracy"], s["diversity"]
    met, of = targets_met(m)
    return [f"`{name}`" if label is None else f"{label} (`{name}`)", f"{m['steps']:,}", machine_of(m),
            pct(a["color"]), pct(a["shape"]), pct(a["size"]), pct(a["position"]),
            f"{f2(d['size'])} / {f2(d['position'])} ({f2(s['diversity_mean'])})", fid_text(m.get("fid")),
            f"{round(m['wall_seconds']):,} s", f"{met} of {of}"]


MAKE_TRAIN_HEADER = ["run (file in `results/`)", "steps", "machine", "colour", "shape", "size", "position",
                     "diversity size / position (mean)", "FID (floor), n", "whole command", "targets met"]


def w_make_train(src: Sources) -> str:
    from dflib.config import get_preset

    cfg = get_preset("shapes-32-cpu")
    head = (f"`make train` runs `python -m dflib train --preset shapes-32-cpu`: {cfg.max_steps:,} steps "
            f"(`dflib/config.py`), then it writes `metrics.json` beside the checkpoints.")
    current = []
    for path in make_train_files(src):
        m = json.loads(path.read_text())
        if m.get("preset") == "shapes-32-cpu" and preset_differences(m) == []:
            current.append((path.name, m))
    if not current:
        return (head + " *No run of this preset is committed yet*; the runs of its earlier versions are in "
                "[docs/experiments.md](docs/experiments.md).")
    chance = current[0][1]["shapes"]["chance"]
    rows = [make_train_row(n, m) for n, m in current]
    return "\n".join([
        head + " Committed runs of this preset:", "",
        table(MAKE_TRAIN_HEADER, rows), "",
        "Accuracy is on what a caption states (chance: "
        + ", ".join(f"{ATTR_NAMES[k]} {pct(chance[k])}" for k in ("color", "shape", "size", "position"))
        + "); diversity is the spread of what it leaves open over noise draws, against the real images' (1 = as "
        "varied as the data); FID is against the real test split, beside the real-vs-real floor. "
        f"*Targets met* counts {targets_sentence()}. Earlier versions of the preset: "
        "[docs/experiments.md](docs/experiments.md).",
    ])


def targets_sentence() -> str:
    return (f"colour ≥ {TARGETS['color']:.0%}, shape ≥ {TARGETS['shape']:.0%}, stated position ≥ "
            f"{TARGETS['position']:.0%}, mean diversity ≥ {TARGETS['diversity_mean']} and the whole command "
            f"within {TARGETS['wall_minutes']} minutes")


def w_targets(src: Sources) -> str:
    return f"The targets for `make train` in this version: {targets_sentence()}."


def w_make_train_history(src: Sources) -> str:
    files = make_train_files(src)
    if not files:
        return missing("results/make_train_metrics*.json", "make-train runs")
    rows, settings, timed = [], [], []
    for path in files:
        m = json.loads(path.read_text())
        if m.get("stopped_by_time_limit") and t2_ms(m) != "–":
            timed.append(float(t2_ms(m).split()[0]))
        label = MAKE_TRAIN_LABELS.get(path.name, "this preset" if preset_differences(m) == [] else "")
        rows.append(make_train_row(path.name, m, label or None))
        settings.append([f"`{path.name}`", settings_text(m), t2_ms(m),
                         "yes" if m.get("stopped_by_time_limit") else "no"])
    # the prose: under a time limit the steps followed the machine's speed, which changed from run to run
    claim(len(timed) >= 2 and max(timed) > 1.2 * min(timed), "the timed step changed from run to run")
    return "\n".join([
        table(MAKE_TRAIN_HEADER, rows), "",
        "Their settings (lr of G / D, the sentence-vector scale, batch, D's width, where the run stopped, seed) as "
        "each file records them, and the 2-thread step that the speed calibration (since removed) timed just "
        "before training:", "",
        table(["file", "settings", "2-thread step timed before training", "stopped by the time limit"], settings),
    ])


# --------------------------------------------------------------------------------------------------
# tuning rounds, learning curve, text norms
# --------------------------------------------------------------------------------------------------


def tuning_rows(runs: list[dict], base: dict, extra: Callable[[dict], list[str]]) -> list[list[str]]:
    out = []
    for r in runs:
        a, d = r["accuracy"], r["diversity"]
        out.append([f"`{r['name']}`", *extra(r), str(r["seed"]), f"{r['steps']:,}", pct(a["color"]),
                    pct(a["shape"]), f"{a['shape'] - base['accuracy']['shape']:+.2f}", pct(a["position"]),
                    f"{f2(d['size'])} / {f2(d['position'])} ({f2(r['diversity_mean'])})",
                    f"{r['fid']:.0f} ({r['fid_floor']:.0f})"])
    return out


TUNING_TAIL = ["seed", "steps", "colour", "shape", "shape − base", "position", "diversity size / position (mean)",
               "FID (floor)"]


def w_tuning_round1(src: Sources) -> str:
    rel = "results/make_train_tuning.json"
    data = src.json(rel)
    if data is None:
        return missing(rel, "first tuning round")
    runs = {r["name"]: r for r in data["runs"]}
    base = runs["base"]
    # the prose: both learning rates doubled helped a little; the scale 0.3 helped in one seed and the seed
    # spread is as large as the settings' effects; the scale 0.1 lost the text
    scaled = [r for r in data["runs"] if (r["lr_g"], r["text_scale"]) == (8e-4, 0.3)]
    claim(runs["lr8"]["accuracy"]["shape"] > base["accuracy"]["shape"], "round one: lr 8e-4 raised shape accuracy")
    claim(max(r["accuracy"]["shape"] for r in data["runs"]) == max(r["accuracy"]["shape"] for r in scaled),
          "round one: the best shape accuracy is a run with the scale 0.3")
    spread = abs(scaled[0]["accuracy"]["shape"] - scaled[1]["accuracy"]["shape"])
    claim(spread > abs(runs["lr8"]["accuracy"]["shape"] - base["accuracy"]["shape"]),
          "round one: two seeds of one setting differ by more than doubling the learning rates changed")
    faded = [r for r in data["runs"] if r["text_scale"] == 0.1]
    claim(all(r["accuracy"]["color"] < 0.6 for r in faded), "round one: at the scale 0.1 colour accuracy collapses")
    rows = tuning_rows(data["runs"], base, lambda r: [f"{lr(r['lr_g'])} / {lr(r['lr_d'])}", f"×{r['text_scale']:g}"])
    return "\n".join([f"From `{rel}` ({data['machine']}): {data['what']}.", "",
                      table(["run", "lr G / D", "text", *TUNING_TAIL], rows)])


def w_tuning_round2(src: Sources) -> str:
    rel = "results/make_train_tuning_round2.json"
    data = src.json(rel)
    if data is None:
        return missing(rel, "second tuning round")
    runs = {r["name"]: r for r in data["runs"]}
    base = runs["base"]
    shape = {n: r["accuracy"]["shape"] for n, r in runs.items()}
    # the prose: a narrower D and a smaller batch took more steps and did not help; D's learning rate did,
    # more at 3.2e-3 than at 1.6e-3, in every seed
    for name in ("ndf8", "b8"):
        claim(runs[name]["steps"] > base["steps"] and shape[name] < shape["base"], f"round two: {name} did not help")
    mid = [shape[n] for n, r in runs.items() if r["lr_d"] == 1.6e-3]
    top = [shape[n] for n, r in runs.items() if r["lr_d"] == 3.2e-3]
    claim(min(mid) > shape["base"] and min(top) > max(mid), "round two: D's learning rate helped, 3.2e-3 most")
    from dflib.config import TrainConfig

    paper = TrainConfig()  # the paper's rates, 1e-4 for G and 4e-4 for D (Sec. 4)
    claim(all(math.isclose(r["lr_g"], 8 * paper.lr_g) and math.isclose(r["lr_d"], 8 * paper.lr_d)
              for r in runs.values() if r["lr_d"] == 3.2e-3), "round two: the kept rates are the paper's times eight")
    rows = tuning_rows(data["runs"], base, lambda r: [lr(r["lr_d"]), str(r["ndf"]), str(r["batch_size"])])
    return "\n".join([f"From `{rel}` ({data['machine']}): {data['what']}.", "",
                      table(["run", "lr D", "ndf", "batch", *TUNING_TAIL], rows)])


def w_learning_curve(src: Sources) -> str:
    rel = "results/shapes_learning_curve.json"
    data = src.json(rel)
    if data is None:
        return missing(rel, "learning curve")
    pts = data["points"]
    # the prose: the shipped model is the round-one preset trained longer than its make-train run, and the
    # round-one make-train run stopped before shape accuracy reached the target on this curve
    card, round1 = src.json("dflib/pretrained_models/shapes-32/card.json"), src.json("results/make_train_metrics_round1.json")
    if card and round1:
        claim("round one" in card["note"] and card["steps"] > round1["steps"], "shapes-32 is round one, trained longer")
        before = [p["accuracy"]["shape"] for p in pts if p["step"] <= round1["steps"]]
        claim(bool(before) and max(before) < TARGETS["shape"] <= max(p["accuracy"]["shape"] for p in pts),
              "the round-one make-train run stopped before shape accuracy reached the target on the curve")
    rows = [[f"{p['step']:,}", pct(p["accuracy"]["color"]), pct(p["accuracy"]["shape"]), pct(p["accuracy"]["size"]),
             pct(p["accuracy"]["position"]), f"{f2(p['diversity']['size'])} / {f2(p['diversity']['position'])}"]
            for p in pts]
    first = next((i for i, p in enumerate(pts) if p["accuracy"]["shape"] >= TARGETS["shape"]), None)
    when = ("Shape accuracy never reaches the target in these checkpoints." if first is None else
            f"Shape accuracy first reaches {TARGETS['shape']:.0%} at the checkpoint of step {pts[first]['step']:,}"
            + (f" (the one before, step {pts[first - 1]['step']:,}, has {pct(pts[first - 1]['accuracy']['shape'])})."
               if first > 0 else "."))
    png = "results/shapes_learning_curve.png"
    fig = f" The figure is `{png}`." if (src.root / png).is_file() else ""
    return "\n".join([
        f"From `{rel}` (run `{data['run']}`, preset `{data['preset']}`, EMA {'on' if data.get('ema') else 'off'}, "
        f"{data['n']} images per checkpoint, {data['machine']}; written by "
        f"`python tools/learning_curve.py runs/<run> --out {rel}`).{fig} {when}", "",
        table(["step", "colour", "shape", "size", "position", "diversity size / position"], rows)])


def w_text_norms(src: Sources) -> str:
    """Measured by this tool, not read from a file: the norms of what every Affine reads, cat([z, s])."""
    import dataclasses

    import torch

    from dflib.config import get_preset
    from dflib.data import build_dataset
    from dflib.text.factory import build_encoder

    cfg = get_preset("shapes-32-cpu")
    ds = build_dataset("shapes", split="train", imsize=32, seed=0, **{**cfg.data.options, "length": 64})
    caps = [ds[i]["caption"] for i in range(64)]
    raw = float(build_encoder(dataclasses.replace(cfg, text_scale=1.0)).encode(caps).sent.norm(dim=1).mean())
    noise = float(torch.randn(4096, cfg.model.z_dim, generator=torch.Generator().manual_seed(0)).norm(dim=1).mean())
    dim = cfg.model.cond_dim
    claim(abs(cfg.text_scale * raw - noise) < 0.15 * noise, "the scaled sentence is about as long as the noise")
    return (f"Measured by `tools/readme_tables.py` on 64 training captions of `shapes-32-cpu` and 4,096 noise "
            f"draws: the bag-of-words sentence vector has mean norm {raw:.1f} unscaled (√{dim} = {dim ** 0.5:.1f}), "
            f"{cfg.text_scale * raw:.1f} scaled by the preset's {cfg.text_scale:g}; the noise z ∈ R^{cfg.model.z_dim} "
            f"has mean norm {noise:.2f} (√{cfg.model.z_dim} = {cfg.model.z_dim ** 0.5:.2f}).")


# --------------------------------------------------------------------------------------------------
# README: curriculum, presets, shipped models, ablation, CPU speed
# --------------------------------------------------------------------------------------------------


def w_curriculum(src: Sources) -> str:
    from notebook_times import human, run_seconds
    from readme_rows import TEACHES, notebook_paths

    rows = []
    for path in notebook_paths(src.root):
        title, what = TEACHES[path.name[:2]]
        sec = run_seconds(path)
        rows.append([path.name[:2], f"[{title}](notebooks/{path.name})", what, human(sec) if sec else "not recorded"])
    return "\n".join([
        table(["#", "notebook", "what it teaches", "full run"], rows), "",
        "*Full run*: wall-clock of the committed run of each notebook, from its cells' execution records "
        "(`python tools/notebook_times.py`; the records do not name the machine)."])


def w_presets(src: Sources) -> str:
    from dflib.config import TRAIN_PRESETS

    rows = []
    for name, c in TRAIN_PRESETS.items():
        stop = [f"{c.max_steps:,} steps"] if c.max_steps > 0 else [f"{c.epochs:,} epochs"]
        if c.time_limit_min > 0:
            stop.append(f"{c.time_limit_min:g} min")
        enc = c.text_encoder + (f" ×{c.text_scale:g}" if c.text_scale != 1 else "")
        rows.append([f"`{name}`", f"`{c.data.name}`", f"{c.model.imsize} px", enc, " or ".join(stop),
                     c.device or "GPU if present", PRESET_USE.get(name, "")])
    return "\n".join([table(["preset", "data", "image", "text encoder", "stops after", "device", "for"], rows), "",
                      "From `dflib/config.py`; `python -m dflib train --preset shapes-32-cpu --print-config` prints every setting of a preset."])


def w_shipped_models(src: Sources) -> str:
    cards = src.glob("dflib/pretrained_models/*/card.json")
    if not cards:
        return missing("dflib/pretrained_models/*/card.json", "shipped model")
    rows = []
    for path in cards:
        c = json.loads(path.read_text())
        blocks = {k: v for k, v in c["metrics"].items() if isinstance(v, dict) and "accuracy" in v}
        split = {"emoji_train": "trained captions", "emoji_test": "unseen emoji"}

        def acc_text(b: dict, a: str) -> str:
            chance = (b.get("chance") or {}).get(a)
            return f"{ATTR_NAMES.get(a, a)} {pct(b['accuracy'][a])}" + (
                f" ({pct(chance)})" if chance is not None and len(blocks) > 1 else "")

        acc = "; ".join(", ".join(acc_text(b, a) for a in varied(b))
                        + (f" [{split.get(k, k)}]" if len(blocks) > 1 else "") for k, b in blocks.items())
        div = "; ".join(", ".join(f"{ATTR_NAMES.get(a, a)} {f2(v)}" for a, v in b["diversity"].items())
                        + (f" [{split.get(k, k)}]" if len(blocks) > 1 else "") for k, b in blocks.items())
        rel = path.relative_to(src.root).as_posix()
        rows.append([f"`{c['name']}` ([card]({rel.replace('card.json', 'card.md')}))", f"`{c['preset']}`",
                     c["text_encoder"], f"{c['steps']:,}", f"{minutes(c['wall_time'])}, {c['hardware']}",
                     acc, div, fid_text(c["metrics"].get("fid"))])
    return "\n".join([
        table(["model", "preset", "text encoder", "steps", "training", "accuracy on stated attributes",
               "diversity of open ones", "FID (floor), n"], rows), "",
        "From each model's `card.json` in `dflib/pretrained_models/`; for the emoji model, chance (the majority "
        "class) in brackets after each accuracy, on captions of emoji it was trained on and of emoji it never saw. "
        "Load one with "
        "`python -m dflib sample <name> --prompt \"...\"` or `dflib.sample.load_generator(\"<name>\")`."])


ABLATION_METRICS = (("acc_color", "colour"), ("acc_shape", "shape"), ("acc_size", "size"),
                    ("acc_position", "position"), ("diversity_mean", "diversity"))


def w_ablation(src: Sources) -> str:
    from dflib.ablation import welch

    rel = "results/ablation.json"
    data = src.json(rel)
    if data is None:
        return missing(rel, "ablation summary") + " Run `python bench/ablation.py`."
    by: dict[str, dict[str, list[float]]] = {}
    for r in data["runs"]:
        for key, _ in ABLATION_METRICS:
            if key in r["metrics"]:
                by.setdefault(r["variant"], {}).setdefault(key, []).append(float(r["metrics"][key]))
    labels = {v["name"]: v["label"] for v in data["variants"]}
    seeds = {name: len({r["seed"] for r in data["runs"] if r["variant"] == name}) for name in data["variant_order"]}
    rows = []
    for name in data["variant_order"]:
        vals = by.get(name, {})
        cells = [(f"{sum(v) / len(v):.2f} ± {_std(v):.2f}" if len(v) > 1 else f"{v[0]:.2f}") if v else "–"
                 for v in (vals.get(k, []) for k, _ in ABLATION_METRICS)]
        n_seeds = seeds[name]
        diff = []
        if name != "dfgan" and min(n_seeds, seeds.get("dfgan", 0)) < 2:
            diff.append("not tested (fewer than 2 seeds)")
        elif name != "dfgan":
            for key, word in ABLATION_METRICS:
                a, b = vals.get(key, []), by.get("dfgan", {}).get(key, [])
                with warnings.catch_warnings():  # identical values across seeds: scipy warns, p is still defined
                    warnings.simplefilter("ignore", RuntimeWarning)
                    t = welch(a, b) if a and b else {"p": math.nan}
                if t["p"] < 0.05:
                    diff.append(f"{word} {'higher' if t['diff'] > 0 else 'lower'} (p = {t['p']:.3f})")
        rows.append([labels.get(name, name), str(n_seeds), *cells,
                     "; ".join(diff) if name != "dfgan" else "(reference)"])
    machines = sorted({(m.get("cpu"), m.get("threads")) for m in _ablation_machines(src, data)})
    where = "; ".join(f"{cpu or 'CPU not recorded'}, {t} thread{'s' if t != 1 else ''} per run" for cpu, t in machines)
    lrs = f", lr {lr(data['lr_g'])} / {lr(data['lr_d'])}" if "lr_g" in data else ""
    lrs += f", text encoder {data['text_encoder']}" if "text_encoder" in data else ""
    png = "results/ablation.png"
    return "\n".join([
        f"`python bench/ablation.py` trains every variant of the paper's ablation (Sec. 4.3) with the `make train` "
        "settings, each through the same Trainer, and writes one JSON per run under `results/ablation/` and the "
        f"summary `{rel}` (notebooks 04 and 05 read it). The committed summary: {data['steps']:,} steps, seeds "
        f"{', '.join(map(str, data['seeds']))}{lrs}; {where or 'machine not recorded'}. Mean ± standard deviation "
        "over seeds (a single value where a variant has one seed so far); the last column lists differences from DF-GAN with p < 0.05 (Welch's t-test over seeds)"
        + (f"; the figure: [`{png}`]({png})." if (src.root / png).is_file() else "."), "",
        table(["variant", "seeds", *[w for _, w in ABLATION_METRICS], "differs from DF-GAN"], rows),
        *_ablation_gradients(src, data, labels)])


def _ablation_gradients(src: Sources, data: dict, labels: dict[str, str]) -> list[str]:
    """One generated sentence: D's gradient at real pairs late in training, per variant (mean over seeds)."""
    from dflib.ablation import late_grad_norms, load_runs

    runs = [r for r in load_runs(src.root / "results" / "ablation") if r.get("steps") == data["steps"]]
    late = late_grad_norms(runs, after=data["steps"] * 3 // 4)
    if not late:
        return []
    parts = []
    for name in data["variant_order"]:
        if name in late:
            g = list(late[name].values())
            img, txt = (sum(x[k] for x in g) / len(g) for k in ("grad_image", "grad_text"))
            parts.append(f"{labels.get(name, name)} {img:.2f} / {txt:.2f}")
    secs = [r["train_seconds"] for r in runs if "train_seconds" in r]
    timing = (f" Training took {min(secs) / 60:.0f}-{max(secs) / 60:.0f} min per run on one thread of the shared "
              f"machine, {sum(secs) / 3600:.1f} h in all (the command runs two at a time)." if secs else "")
    return ["", "D's gradient at real matched pairs, image part / sentence part, averaged over the last quarter of "
            "training and the seeds (each run logs it; notebook 04 section 7 plots it): " + "; ".join(parts) + "." + timing]


def _std(v: list[float]) -> float:
    if len(v) < 2:
        return 0.0
    mean = sum(v) / len(v)
    return math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))


def _ablation_machines(src: Sources, data: dict) -> list[dict]:
    """The machine of the summary (older files) or of each run file under ``results/ablation/``."""
    if isinstance(data.get("machine"), dict):
        return [data["machine"]]
    out = []
    for r in data["runs"]:
        run = src.json(f"results/ablation/{r['variant']}-seed{r['seed']}.json")
        if run and isinstance(run.get("machine"), dict):
            out.append(run["machine"])
    return out


def w_cpu_speed(src: Sources) -> str:
    rel = "results/cpu_speed.json"
    res = src.json(rel)
    if res is None:
        return missing(rel, "CPU speed measurement")
    m, summ = res["machine"], res["summary"]

    def ratio(key: str) -> str:
        r = summ[key]
        return f"{r['mean']:.2f}× ({r['min']:.2f}-{r['max']:.2f} over {len(r['repeats'])} repeats)"

    load = m["load_before"][0] if isinstance(m["load_before"], list) else m["load_before"]
    return (f"`python bench/cpu_speed.py` times the `make train` step ({res['preset']}, batch {res['batch']}, "
            f"{res['threads']} thread{'s' if res['threads'] != 1 else ''}) with `fast=auto` against the reference "
            f"step (`off`) and against `channels_last` alone, interleaved. In `{rel}` ({m['cpu']}, "
            f"{m['physical_cores']} physical cores, 1-min load {load:.1f} before it, torch {m['torch']}) `auto` was "
            f"{ratio('auto_vs_off')} the speed of `off` and {ratio('auto_vs_channels_last')} that of "
            "`channels_last` alone: almost all of the gain is the memory format. The whole table is in "
            "[docs/engineering.md](docs/engineering.md).")


# --------------------------------------------------------------------------------------------------
# data/README.md
# --------------------------------------------------------------------------------------------------


def w_shapes_preset(src: Sources) -> str:
    from dflib.config import get_preset

    cfg = get_preset("shapes-32-cpu")
    rows = [[f"`{k}`", f"`{json.dumps(v)}`"] for k, v in cfg.data.options.items()]
    return "\n".join([
        f"The `make train` preset `shapes-32-cpu` (`dflib/config.py`) draws its data at {cfg.model.imsize} px with "
        f"these options, and trains for {cfg.max_steps:,} steps of batch {cfg.batch_size}:", "",
        table(["option", "value"], rows)])


def w_emoji_counts(src: Sources) -> str:
    from dflib.data.emoji import EmojiDataset, list_emoji

    entries = list_emoji()
    n = {s: len(EmojiDataset(split=s, imsize=32)) for s in ("train", "test")}
    return (f"`list_emoji()` gives {len(entries):,} images ({n['train']:,} train / {n['test']:,} test), in "
            f"{len({e.group for e in entries})} groups and {len({e.subgroup for e in entries})} subgroups; "
            f"{sum(e.skin_tone is not None for e in entries):,} of them are skin-tone variants.")


WRITERS: dict[str, Callable[[Sources], str]] = {
    "curriculum": w_curriculum, "presets": w_presets, "make-train": w_make_train,
    "shipped-models": w_shipped_models, "ablation": w_ablation, "cpu-speed": w_cpu_speed,
    "targets": w_targets, "make-train-history": w_make_train_history, "tuning-round1": w_tuning_round1,
    "tuning-round2": w_tuning_round2, "learning-curve": w_learning_curve, "text-norms": w_text_norms,
    "shapes-preset": w_shapes_preset, "emoji-counts": w_emoji_counts,
}


# --------------------------------------------------------------------------------------------------
# rendering, checking, collecting
# --------------------------------------------------------------------------------------------------


def render(text: str, expected: tuple[str, ...], src: Sources, where: str = "") -> str:
    """``text`` with every region rewritten by its writer; each of ``expected`` must occur exactly once."""
    seen: list[str] = []

    def fill(m: re.Match) -> str:
        name = m.group(2)
        if name not in WRITERS:
            raise KeyError(f"{where}: unknown region <!-- table:{name} --> (known: {', '.join(WRITERS)})")
        seen.append(name)
        if name not in src.cache:
            src.cache[name] = WRITERS[name](src).strip("\n")
        return f"{m.group(1)}\n{src.cache[name]}\n\n{m.group(4)}"

    out = MARK.sub(fill, text)
    wrong = sorted(set(expected) - set(seen)) + sorted({n for n in seen if seen.count(n) > 1})
    if wrong:
        raise KeyError(f"{where}: regions missing or repeated: {', '.join(wrong)}")
    return out


def run(check: bool, targets: dict[str, Path] | None = None, src: Sources | None = None) -> int:
    """Write (or, with ``check``, compare) each file of :data:`FILES`; ``targets`` maps a FILES key to the
    path to use instead (a copy in a test). Returns 1 when a file differs under ``check``."""
    src = src or Sources()
    status = 0
    for rel, expected in FILES.items():
        path = (targets or {}).get(rel, ROOT / rel)
        old = path.read_text(encoding="utf-8")
        new = render(old, expected, src, rel)
        if new == old:
            continue
        if check:
            status = 1
            sys.stdout.writelines(difflib.unified_diff(old.splitlines(True), new.splitlines(True), rel, f"{rel} (tables)"))
            print(f"{rel} differs from its committed results: run python tools/readme_tables.py", file=sys.stderr)
        else:
            path.write_text(new, encoding="utf-8")
            print(f"wrote {rel}")
    return status


def collect(run_dir: Path, out: Path) -> dict:
    """``run_dir/metrics.json`` with the run's ``config.json`` under ``config`` and this machine's CPU under
    ``machine`` (run it on the machine that trained)."""
    import os
    import platform

    import torch

    from dflib.runtime import cpu_model, physical_cores

    m = json.loads((run_dir / "metrics.json").read_text())
    m["config"] = json.loads((run_dir / "config.json").read_text())
    m["machine"] = {"cpu": cpu_model(), "physical_cores": physical_cores(), "logical_cpus": os.cpu_count(),
                    "threads": m.get("threads"), "torch": torch.__version__, "python": platform.python_version(),
                    "recorded_by": "tools/readme_tables.py --collect, on the machine that collected the run"}
    out.write_text(json.dumps(m, indent=2) + "\n")
    return m


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if a file differs from what would be written")
    ap.add_argument("--collect", nargs=2, metavar=("RUN_DIR", "OUT_JSON"),
                    help="write a run's metrics.json + config.json + this machine's CPU to OUT_JSON")
    args = ap.parse_args(argv)
    if args.collect:
        m = collect(Path(args.collect[0]), Path(args.collect[1]))
        diff = preset_differences(m)
        print(f"wrote {args.collect[1]}; differs from its preset in: {', '.join(diff) if diff else 'nothing'}")
        return 0
    return run(args.check)


if __name__ == "__main__":
    sys.exit(main())
