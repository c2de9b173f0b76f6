"""The paper's ablation (Sec. 4.3) as notebooks 04 and 05 read it: the committed results and their figure.

The variants, the runner and the statistics live in :mod:`dflib.ablation` (every variant trains through the
one Trainer and step); ``bench/ablation.py`` writes ``results/ablation.json``.
"""

from dflib.ablation import PLOT_METRICS, VARIANTS, flatten_metrics, load_ablation, plot_ablation, summarise

__all__ = ["VARIANTS", "load_ablation", "plot_ablation", "summarise", "flatten_metrics", "PLOT_METRICS"]
