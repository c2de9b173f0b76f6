"""The README's curriculum rows: each notebook's link, what it teaches, and its measured run time.
Usage: python tools/readme_rows.py  (prints the rows; tests/test_readme_claims.py checks the README has them)"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_times import ROOT, human, run_seconds  # noqa: E402

TEACHES = {
    "00": ("Setup and a tour", "environment check, the `DFGAN_QUICK` switch, what DF-GAN changed, the bundled data"),
    "01": ("GAN basics", "a 2-D toy GAN: D as a heat map with G's gradient arrows, real mode collapse, a widget"),
    "02": ("The hinge loss", "BCE vs WGAN vs hinge: the losses, their gradients, the margin a critic keeps"),
    "03": ("Zero-centred gradient penalties", "Dirac-GAN fields, simultaneous vs alternating steps, eigenvalues against γ"),
    "04": ("MA-GP", "why the penalty also looks along the text: a toy where an image-only penalty is not enough"),
    "05": ("DF-Block fusion", "affine modulation from text, one Affine vs stacked DF-Blocks, the measured ablation"),
    "06": ("Generator and discriminator", "NetG, NetD and NetC drawn with their shapes, why one stage, official checkpoints"),
    "07": ("The text encoder", "tokens, the DAMSM BiLSTM and its pretraining, MiniLM, a meaning probe, why `make train` uses a bag of words"),
    "08": ("Training", "the step written by hand and checked, a full run, gradient norms at real pairs, resume"),
    "09": ("Sampling and evaluation", "the shipped model: prompts, truncation, interpolation, FID, accuracy, diversity"),
    "10": ("Appendix: the fast path", "speed options that keep the maths, the one that does not (bf16), `fast=auto` decided by timing"),
}


def rows() -> list[str]:
    out = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        num = path.name[:2]
        title, what = TEACHES[num]
        sec = run_seconds(path)
        out.append(f"| {num} | [{title}](notebooks/{path.name}) | {what} | {human(sec) if sec else 'not recorded'} |")
    return out


if __name__ == "__main__":
    print("\n".join(rows()))
