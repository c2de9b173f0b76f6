"""Export the figures that the README shows (``make figures``; ``make execute`` runs it after executing).

Every code cell tagged ``figure:<name>`` in a notebook of the series (the numbered ``NN_name.ipynb``, then the
appendices ``A1_name.ipynb``: ``readme_rows.notebooks_in``) has its first PNG output written to
``<out>/<name>.png``. A tagged cell without a PNG output is an error (run ``make execute``).

Usage: ``python tools/export_figures.py [--notebooks notebooks] [--out notebooks/figures]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from readme_rows import notebooks_in  # noqa: E402  (the series' order: numbered notebooks, then appendices)


def export_figures(notebooks: Path | str = ROOT / "notebooks", out: Path | str = ROOT / "notebooks" / "figures",
                   ) -> list[Path]:
    """Write the PNG output of every cell tagged ``figure:<name>`` to ``out/<name>.png``; returns the paths."""
    notebooks, out = Path(notebooks), Path(out)
    paths = notebooks_in(notebooks)
    if not paths:
        raise FileNotFoundError(f"no notebooks (NN_name.ipynb, A1_name.ipynb) in {notebooks}")
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for path in paths:
        nb = json.loads(path.read_text(encoding="utf-8"))
        for cell in nb.get("cells", []):
            tags = cell.get("metadata", {}).get("tags", [])
            names = [t.split(":", 1)[1] for t in tags if t.startswith("figure:")]
            if not names:
                continue
            pngs = [o["data"]["image/png"] for o in cell.get("outputs", []) if "image/png" in o.get("data", {})]
            if not pngs:
                raise ValueError(f"{path.name}: the cell tagged figure:{names[0]} has no PNG output; run `make execute`")
            png = pngs[0] if isinstance(pngs[0], str) else "".join(pngs[0])
            target = out / f"{names[0]}.png"
            target.write_bytes(base64.b64decode(png))
            written.append(target)
    return written


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebooks", default=str(ROOT / "notebooks"),
                    help="folder of the executed notebooks (NN_name.ipynb, A1_name.ipynb)")
    ap.add_argument("--out", default=str(ROOT / "notebooks" / "figures"), help="where the PNGs go")
    args = ap.parse_args(argv)
    figs = export_figures(args.notebooks, args.out)
    print(f"wrote {len(figs)} figures to {args.out}/: " + ", ".join(f.name for f in figs))


if __name__ == "__main__":
    main()
