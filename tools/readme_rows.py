"""What each notebook teaches (the README's curriculum table, written by tools/readme_tables.py) and the order
of the notebooks: the numbered series, then the appendices."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from notebook_times import ROOT  # noqa: E402

TEACHES = {
    "00": ("Setup and a tour", "environment check, the `DFGAN_QUICK` switch, what DF-GAN changed, the bundled data"),
    "01": ("GAN basics", "a 2-D toy GAN: D as a heat map with G's gradient arrows, real mode collapse, a widget"),
    "02": ("The hinge loss", "BCE vs WGAN vs hinge: the losses, their gradients, the margin a critic keeps"),
    "03": ("Zero-centred gradient penalties", "Dirac-GAN fields, simultaneous vs alternating steps, eigenvalues against γ"),
    "04": ("MA-GP", "G's loss surface and D's gradient arrows at real pairs for no penalty / image-only / MA-GP, a penalty's value beside its pull"),
    "05": ("DF-Block fusion", "affine modulation from text; concatenation vs one Affine vs DF-Blocks fitting caption targets in seconds; the measured ablation"),
    "06": ("Generator and discriminator", "NetG, NetD and NetC drawn with their shapes, why one stage, official checkpoints"),
    "07": ("The text encoder", "tokens, the DAMSM BiLSTM and its pretraining, MiniLM, a meaning probe, why `make train` uses a bag of words"),
    "08": ("Training", "the step written by hand and checked, a full run, gradient norms at real pairs, resume"),
    "09": ("Sampling and evaluation", "the shipped model: prompts, truncation, interpolation, FID, accuracy, diversity"),
    "10": ("Capstone: the full training", "`make train`'s preset trained to its last step through the Trainer, resumable, evaluated with 09's tools; the paper preset on a GPU"),
    "A1": ("Appendix: the fast path", "speed options that keep the maths, the one that does not (bf16), what `fast=auto` turns on and what it buys"),
}


def notebook_paths(root: Path = ROOT) -> list[Path]:
    """The numbered notebooks, then the appendices (A1, ...)."""
    nb = root / "notebooks"
    return sorted(nb.glob("[0-9][0-9]_*.ipynb")) + sorted(nb.glob("A[0-9]_*.ipynb"))
