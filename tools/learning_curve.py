"""Attribute accuracy and diversity of a `shapes` run at each of its checkpoints: the learning curve.

    python tools/learning_curve.py runs/ship-bow --out results/shapes_learning_curve.json --n 256

For every training checkpoint of the run folder (or every ``--every``-th one), the generator that the run
would sample (the EMA copy if the run kept one) is evaluated with ``dflib.metrics.shapes_eval`` on the
test split (one attribute classifier for all checkpoints), and the curve is written as JSON and drawn as a
PNG beside it (accuracy per stated attribute and diversity against the step, chance dotted).
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


def curve(run: Path, n: int, every: int = 1, classifier_steps: int = 400) -> dict:
    paths = list_checkpoints(run)[::every]
    if not paths:
        raise SystemExit(f"no checkpoint in {run}")
    cfg = config_from_dict(load_generator(paths[0])[1]["config"])
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


def plot(res: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

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
    ap.add_argument("--classifier-steps", type=int, default=400, help="training steps of the attribute classifier")
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
