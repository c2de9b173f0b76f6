"""What each notebook teaches (the README's curriculum table, written by tools/readme_tables.py) and the order
of the notebooks: the numbered series, then the appendices."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

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


def notebooks_in(folder: Path | str) -> list[Path]:
    """The notebooks of a folder in the series' order: the numbered ones (``NN_name.ipynb``), then the
    appendices (``A1_name.ipynb``, ...). The one definition of which notebooks make the series: the README,
    the site (tools/build_site.py), the figure export and the tests all read it."""
    folder = Path(folder)
    return sorted(folder.glob("[0-9][0-9]_*.ipynb")) + sorted(folder.glob("A[0-9]_*.ipynb"))


def is_appendix(path: Path | str) -> bool:
    """True for an appendix (``A1_name.ipynb``), outside the numbered series."""
    return Path(path).name[:1] == "A"


def notebook_paths(root: Path = ROOT) -> list[Path]:
    """The numbered notebooks of ``root/notebooks``, then the appendices (A1, ...)."""
    return notebooks_in(Path(root) / "notebooks")
