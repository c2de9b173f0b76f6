"""``python -m dflib export MODEL --onnx OUT_DIR``: a shipped generator as ONNX plus the JSON a web page needs
to turn captions into sentence vectors (:mod:`dfexport.export`; the course site's demo page uses it)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from dflib.pretrained import list_pretrained

from .export import export_for_page

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m dflib export",
        description="Write a shipped generator as ONNX (generator.onnx: noise (n, z_dim) and sentence (n, cond_dim) "
        "-> images in [-1, 1]) and model.json (sizes, example captions, and the text encoder as a table: the "
        "bag-of-words vocabulary with its vectors, or precomputed sentence vectors of a caption list).",
    )
    ap.add_argument("model", help=f"a shipped model: {', '.join(list_pretrained()) or 'none shipped'}")
    ap.add_argument("--onnx", required=True, metavar="OUT_DIR",
                    help="folder to write generator.onnx and model.json into")
    ap.add_argument("--captions-file", default=None,
                    help="one caption a line: the examples (and, for an encoder a page cannot run, the captions whose "
                    "vectors are precomputed); default: captions of the model's test data")
    return ap


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    captions = None
    try:
        if args.captions_file:
            path = Path(args.captions_file)
            if not path.is_file():
                raise FileNotFoundError(f"captions file {path} not found")
            captions = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
        meta = export_for_page(args.model, args.onnx, captions=captions)
    except (FileNotFoundError, ValueError) as exc:
        print(f"[dflib export] error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.onnx)
    text = meta["text"]
    size = len(text.get("vectors", text.get("sentences", {})))
    print(json.dumps({"model": meta["name"], "written": [str(out / "generator.onnx"), str(out / "model.json")],
                      "text": text["kind"], "entries": size}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
