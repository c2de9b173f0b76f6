"""Helpers that exist only for the notebooks: toys, figures, widgets, probes of the networks.

Only the notebooks import this package (``tests/test_layers.py`` fails on an import of it from the library,
the tools or the benches); it imports the core (downwards only).

Toys of notebooks 01-04 (pure computation, on the real :mod:`dflib.losses`):

* :mod:`~dfcourse.common`: one-thread execution, argument checks, the toys' MLP
* :mod:`~dfcourse.toys`: the 2-D toy GAN (mixtures of Gaussians, training, snapshots)
* :mod:`~dfcourse.optimal_d`: the best D of the BCE and hinge losses and what G then minimises (JS, TV)
* :mod:`~dfcourse.loss_shapes`: losses against the logit, the penalty ``k n^p`` against the norm
* :mod:`~dfcourse.dirac`: the Dirac-GAN (vector fields, trajectories, eigenvalues)
* :mod:`~dfcourse.conditional`: the conditional (x, e) toy of MA-GP

Figures and interaction:

* :mod:`~dfcourse.plots`: the colour language and the toys' figures
* :mod:`~dfcourse.dirac_plots`: the Dirac-GAN's figures (field, eigenvalues, stability, limit cycle)
* :mod:`~dfcourse.image_grids`: image grids, caption rows, interpolation strips
* :mod:`~dfcourse.widgets`: ``FigureApp`` and the ``make_*_widget`` explorers

Probes of the DF-GAN modules (notebooks 05-09):

* :mod:`~dfcourse.affine_probe`: Affine responses (gamma, beta) and per-channel transfer curves (05)
* :mod:`~dfcourse.fusion`: the fusion ablation variants and their short training runs (05)
* :mod:`~dfcourse.inspect_nets`: per-block tables, parameter budgets, unused parameters (06)
* :mod:`~dfcourse.text_probe`: sentence similarities, word features, retrieval figures (07)
* :mod:`~dfcourse.emoji_probe`: what the emoji classifier reads in generated emoji, the nearest real drawing (09)
* :mod:`~dfcourse.runs`: finding run folders and checkpoints, config diffs, progress figures (06, 08, 09)
* :mod:`~dfcourse.ablation`: the paper's ablation (Sec. 4.3) as one switchable step, and its figure (04, 05)
* :mod:`~dfcourse.ablation_read`: that ablation's file read against the paper's claims, in words (04, 05)
* :mod:`~dfcourse.exercises`: checks that run the learner's exercise code and say what is wrong (06-10, A1)
* :mod:`~dfcourse.early_checks`: the same kind of checks for the exercises of notebooks 00-05

Import the modules you need, e.g. ``from dfcourse import toys, plots, widgets``; this file imports
none of them, so the toys do not pull in the trainer or the text encoders.
"""

__all__ = [
    "common",
    "toys",
    "optimal_d",
    "loss_shapes",
    "dirac",
    "conditional",
    "plots",
    "dirac_plots",
    "image_grids",
    "widgets",
    "affine_probe",
    "fusion",
    "inspect_nets",
    "text_probe",
    "runs",
    "ablation",
    "ablation_read",
    "exercises",
    "early_checks",
    "emoji_probe",
]
