"""G's loss surface around real matched pairs for the trained critics of the ablation (issue #27).

    python bench/ablation_surfaces.py            # seed 0 of no_gp, zero_gp and dfgan -> results/ablation_surfaces.json

For each variant it loads D and C from the newest checkpoint of ``runs/ablation/<variant>-seed<k>`` (written by
``bench/ablation.py``), takes ``--pairs`` real (image, caption) pairs of the shapes data with the run's own text
encoder, and measures :func:`dflib.ablation.pair_surface`: ``-D`` on a grid of steps along each pair's unit image
gradient and unit sentence gradient, averaged over the pairs. Notebook 04 draws the committed file.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dflib.ablation import VARIANTS, pair_surface  # noqa: E402
from dflib.checkpoint import latest_checkpoint, load_training_checkpoint  # noqa: E402
from dflib.config import build_models, config_from_dict  # noqa: E402
from dflib.data import build_dataset  # noqa: E402
from dflib.text import build_encoder  # noqa: E402


def critic_surface(run: Path, pairs: int, radius: float, points: int) -> dict:
    ckpt = load_training_checkpoint(run)
    cfg = config_from_dict(ckpt["config"])
    _, netD, netC = build_models(cfg.model)
    netD.load_state_dict(ckpt["model"]["netD"])
    netC.load_state_dict(ckpt["model"]["netC"])
    netD.eval(), netC.eval()
    ds = build_dataset(cfg.data.name, root=cfg.data.root, split="test", imsize=cfg.model.imsize,
                       words_num=cfg.data.words_num, seed=0, **cfg.data.options)
    items = [ds[i] for i in range(pairs)]
    images = torch.stack([torch.as_tensor(it["image"]) for it in items])
    enc = build_encoder(cfg, getattr(ds, "vocab", None))
    sent = enc.encode([it["caption"] for it in items]).sent  # build_encoder applies text_scale
    out = pair_surface(netD, netC, images, sent, radius=radius, points=points)
    return {**out, "step": int(ckpt["step"]), "checkpoint": Path(ckpt["path"]).name}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python bench/ablation_surfaces.py", description=__doc__.splitlines()[0])
    ap.add_argument("--variants", nargs="+", default=["no_gp", "zero_gp", "dfgan"], choices=list(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=64)
    ap.add_argument("--radius", type=float, default=1.0)
    ap.add_argument("--points", type=int, default=21)
    ap.add_argument("--runs", type=Path, default=Path("runs/ablation"))
    ap.add_argument("--out", type=Path, default=Path("results/ablation_surfaces.json"))
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    res = {"seed": a.seed, "pairs": a.pairs, "radius": a.radius, "variants": {}}
    for v in a.variants:
        run = a.runs / f"{v}-seed{a.seed}"
        if latest_checkpoint(run) is None:
            print(f"no checkpoint in {run}: run python bench/ablation.py first", file=sys.stderr)
            return 2
        res["variants"][v] = critic_surface(run, a.pairs, a.radius, a.points)
        s = res["variants"][v]
        print(f"{v}: step {s['step']}, |dD/dx| {s['grad_image']:.3f}, |dD/de| {s['grad_text']:.3f}")
    a.out.write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
