"""Attribute accuracy and diversity of a `shapes` or `emoji` run at each of its checkpoints: the learning curve.

    python tools/learning_curve.py runs/ship-bow --out results/shapes_learning_curve.json --n 256
    python tools/learning_curve.py runs/emoji-32 --out results/emoji_learning_curve.json --n 256

For every training checkpoint of the run folder (or every ``--every``-th one), the generator that the run
would sample (the EMA copy if the run kept one) is evaluated with one classifier for all checkpoints, and
the curve is written as JSON and drawn as a PNG beside it (accuracy per stated attribute and diversity
against the step, chance dotted). ``shapes`` runs: ``dflib.metrics.shapes_eval`` on the test split;
``emoji`` runs: ``dflib.metrics.emoji_eval`` on the trained captions (the model card's first column).

Checkpoints are only what the run kept (``keep_last``); for an emoji run the tool also reads the run's
sample grids (``samples/samples_step_*.png``, written every ``sample_every`` steps whatever was kept):
each 32 px tile is classified and scored against its row's caption ("grid" in the JSON), a coarse but
complete record of training from the first grid on.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dflib.checkpoint import list_checkpoints  # noqa: E402
from dflib.config import config_from_dict  # noqa: E402
from dflib.metrics.shapes_eval import evaluate_shapes_generator, shapes_classifier  # noqa: E402
from dflib.sample import load_generator  # noqa: E402
from dflib.runtime import cpu_model  # noqa: E402
from dflib.text import SentenceCache  # noqa: E402
from dflib.text.factory import build_encoder  # noqa: E402

ATTRS = ("color", "shape", "size", "position")
from dflib.figures import EMOJI_CURVE_LABELS as EMOJI_ATTRS  # noqa: E402


def curve(run: Path, n: int, every: int = 1, classifier_steps: int | None = None) -> dict:
    paths = list_checkpoints(run)[::every]
    if not paths:
        raise SystemExit(f"no checkpoint in {run}")
    cfg = config_from_dict(load_generator(paths[0])[1]["config"])
    if cfg.data.name == "emoji":
        return emoji_curve(run, paths, cfg, n, classifier_steps or 800)
    classifier_steps = classifier_steps or 400
    clf = shapes_classifier(cfg.data.options, cfg.model.imsize, seed=cfg.seed, steps=classifier_steps)
    encode = SentenceCache(build_encoder(cfg))
    points = []
    for p in paths:
        t0 = time.perf_counter()
        netG, info = load_generator(p)  # the EMA copy when the run kept one, as sampling does
        step = int(info["step"])
        m = evaluate_shapes_generator(netG, encode, cfg.data.options, n=n, seed=cfg.seed, truncation=cfg.truncation,
                                      imsize=cfg.model.imsize, classifier=clf)
        points.append({"step": step, "accuracy": m["accuracy"], "diversity": m["diversity"],
                       "diversity_mean": m["diversity_mean"], "chance": m["chance"]})
        print(f"step {step:>6}: " + ", ".join(f"{a} {m['accuracy'][a]:.2f}" for a in ATTRS)
              + f" | diversity {m['diversity']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"run": str(run), "preset": cfg.preset, "n": n, "ema": bool(cfg.ema), "machine": cpu_model(),
            "points": points}


def emoji_curve(run: Path, paths: list[Path], cfg, n: int, classifier_steps: int = 800) -> dict:
    """The emoji card's trained-caption measures at each checkpoint, plus the sample grids' reading."""
    from dflib.metrics.emoji_eval import emoji_classifier, evaluate_emoji_generator

    clf = emoji_classifier(seed=0, steps=classifier_steps)  # the model card's classifier: seed 0, 800 steps
    encode = SentenceCache(build_encoder(cfg))
    points = []
    for p in paths:
        t0 = time.perf_counter()
        netG, info = load_generator(p)
        m = evaluate_emoji_generator(netG, encode, n=n, seed=0, truncation=cfg.truncation, split="train",
                                     classifier=clf)
        points.append({"step": int(info["step"]), "accuracy": m["accuracy"], "diversity": m["diversity"],
                       "chance": m["chance"], "ceiling": m["real_accuracy"], "n_stated": m["n_stated"]})
        print(f"step {info['step']:>6}: " + ", ".join(f"{a} {m['accuracy'][a]:.3f}" for a in EMOJI_ATTRS)
              + f" | tone diversity {m['diversity']['skin_tone']} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return {"run": str(run), "preset": cfg.preset, "data": "emoji", "n": n, "split": "train", "ema": bool(cfg.ema),
            "machine": cpu_model(), "points": points, "grid": grid_curve(run, clf)}


def grid_tiles(path: Path, rows: int, cols: int, size: int, pad: int = 2) -> torch.Tensor:
    """The ``rows x cols`` tiles of a sample grid PNG (torchvision's layout: ``pad`` px between and around
    tiles) as images in [-1, 1] (the grid maps [-1, 1] linearly to 0..255)."""
    import numpy as np
    from PIL import Image

    arr = np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    want = (pad + rows * (size + pad), pad + cols * (size + pad))
    if arr.shape[:2] != want:
        raise ValueError(f"{path}: {arr.shape[1]}x{arr.shape[0]} px is not a {rows}x{cols} grid of {size} px tiles")
    tiles = [arr[pad + r * (size + pad):][:size, pad + c * (size + pad):][:, :size]
             for r in range(rows) for c in range(cols)]
    return torch.from_numpy(np.stack(tiles)).permute(0, 3, 1, 2).contiguous()


def grid_curve(run: Path, clf, cols: int = 8) -> dict | None:
    """Group and subgroup accuracy of the tiles of every sample grid of an emoji run, each tile scored
    against the emoji its row's caption was written for (``samples/captions.txt``)."""
    from dflib.data.emoji import emoji_captions, list_emoji
    from dflib.metrics.classifier import predict_attributes
    from dflib.metrics.emoji_eval import entry_labels, label_names

    folder = run / "samples"
    grids = sorted(folder.glob("samples_step_*.png"))
    if not grids or not (folder / "captions.txt").is_file():
        return None
    caps = [line.split(": ", 1)[1] for line in (folder / "captions.txt").read_text().splitlines() if ": " in line]
    names = label_names()
    by_caption = {c: e for e in list_emoji() for c in emoji_captions(e)}
    missing = [c for c in caps if c not in by_caption]
    if missing:
        raise ValueError(f"{folder / 'captions.txt'}: no emoji has the caption {missing[0]!r}")
    truth = [entry_labels(by_caption[c], names) for c in caps]
    points = []
    for g in grids:
        tiles = grid_tiles(g, len(caps), cols, 32)
        pred = predict_attributes(clf, tiles)
        acc = {}
        for label in ("group", "subgroup"):
            want = torch.tensor([t[label] for t in truth]).repeat_interleave(cols)
            acc[label] = float((pred[label] == want).float().mean())
        points.append({"step": int(g.stem.rsplit("_", 1)[1]), "accuracy": acc})
    return {"captions": caps, "tiles": len(caps) * cols,
            "subgroups": sorted({names["subgroup"][t["subgroup"]] for t in truth}), "points": points}


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if res.get("data") == "emoji":
        from dflib.figures import plot_emoji_curve

        fig = plot_emoji_curve(res)
        fig.savefig(path)
        plt.close(fig)
        return
    steps = [p["step"] for p in res["points"]]
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.2), dpi=100, layout="constrained")
    for attr, colour in zip(ATTRS, ("#d62728", "#1f77b4", "#2ca02c", "#9467bd")):
        a.plot(steps, [p["accuracy"][attr] for p in res["points"]], "o-", color=colour, label=attr, ms=3)
        a.axhline(res["points"][0]["chance"][attr], color=colour, ls=":", lw=0.8)
    a.set(xlabel="training step", ylabel="accuracy when the caption states it", ylim=(0, 1.02),
          title=f"{res['preset']}: attribute accuracy (chance dotted)")
    a.legend(fontsize=8)
    for attr, colour in zip(("size", "position"), ("#2ca02c", "#9467bd")):
        b.plot(steps, [p["diversity"].get(attr) for p in res["points"]], "o-", color=colour, label=attr, ms=3)
    b.set(xlabel="training step", ylabel="diversity (1 = as varied as the data)", ylim=(0, 1.1),
          title="diversity of what captions leave open")
    b.legend(fontsize=8)
    fig.savefig(path)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/learning_curve.py")
    ap.add_argument("run", type=Path)
    ap.add_argument("--out", type=Path, required=True, help="JSON to write (the PNG goes beside it)")
    ap.add_argument("--n", type=int, default=256, help="generated images per checkpoint for the accuracy")
    ap.add_argument("--every", type=int, default=1, help="evaluate every k-th checkpoint")
    ap.add_argument("--classifier-steps", type=int, default=None,
                    help="training steps of the classifier (default: 400 for shapes, 800 for emoji)")
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = curve(a.run, a.n, a.every, a.classifier_steps)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps(res, indent=2) + "\n")
    plot(res, a.out.with_suffix(".png"))
    print(f"wrote {a.out} and {a.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
