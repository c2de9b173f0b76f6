"""``python -m dflib <command> [options]``: train, sample, evaluate, pretrain (each has ``--help``)."""

from __future__ import annotations

import importlib
import sys

from .cli import COMMANDS


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help") or argv[0] not in COMMANDS:
        bad = f"unknown command {argv[0]!r}. " if argv and argv[0] not in ("-h", "--help") else ""
        print(f"{bad}usage: python -m dflib {{{','.join(COMMANDS)}}} [options]   (each command has --help)",
              file=sys.stderr if bad else sys.stdout)
        return 2 if bad or not argv else 0
    module = importlib.import_module(f"dflib.cli.{argv[0]}")
    return int(module.main(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())
