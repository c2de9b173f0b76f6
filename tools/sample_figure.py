"""The README's sample figure: a shipped model, one prompt per row, one noise draw per column.

    python tools/sample_figure.py shapes-32 --out notebooks/figures/shapes-32-samples.png

Uses the official sampler (``dflib.sample.generate``: truncated noise 0.88, the same noise for every prompt,
so column j shares its noise) and prints, per row, what the attribute classifier reads off the images, so
the README caption can say what the rows follow and what the columns vary.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dflib.metrics.attributes import predict_attributes  # noqa: E402
from dflib.metrics.shapes_eval import shapes_classifier  # noqa: E402
from dflib.figures import plot_caption_rows  # noqa: E402
from dflib.data.shapes_draw import COLOR_NAMES, POSITION_NAMES, SHAPE_NAMES, SIZE_NAMES  # noqa: E402
from dflib.pretrained import load_pretrained  # noqa: E402
from dflib.sample import generate, load_text_encoder_for  # noqa: E402

PROMPTS = ("a red circle", "a big blue square on the left", "a small green star on the right", "a yellow triangle")
NAMES = {"color": COLOR_NAMES, "shape": SHAPE_NAMES, "size": SIZE_NAMES, "position": POSITION_NAMES}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/sample_figure.py")
    ap.add_argument("name", nargs="?", default="shapes-32")
    ap.add_argument("--out", type=Path, default=Path("notebooks/figures/shapes-32-samples.png"))
    ap.add_argument("--n", type=int, default=8)
    a = ap.parse_args(argv)
    torch.set_num_threads(1)
    netG, info = load_pretrained(a.name)
    encoder = load_text_encoder_for(info)
    images = generate(netG, encoder, list(PROMPTS), n=a.n, truncation=0.88, seed=0)
    grid = images.view(len(PROMPTS), a.n, *images.shape[1:])
    fig = plot_caption_rows(grid, list(PROMPTS), size=0.8)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(a.out, dpi=100, bbox_inches="tight")
    clf = shapes_classifier(info["config"]["data"]["options"], netG.imsize)
    for prompt, row in zip(PROMPTS, grid):
        pred = predict_attributes(clf, row)
        read = {k: dict(Counter(NAMES[k][int(i)] for i in pred[k])) for k in NAMES if k in pred}
        print(f"{prompt!r}: {read}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
