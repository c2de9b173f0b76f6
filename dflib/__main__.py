"""``python -m dflib <command> [options]``: train, sample, evaluate, pretrain (each has ``--help``).

``python -m dflib`` alone (or ``--help``) lists the commands with an example each; a mistyped command gets
the closest one. Ctrl-C at any moment ends with one line and exit status 130 (:func:`exit_on_interrupt`).
"""

from __future__ import annotations

import difflib
import importlib
import sys

from .cli import COMMANDS
from .interrupts import dflib_command, exit_on_interrupt

# what each command does, and an example that runs as written from the repository's root
EXAMPLES = {
    "train": ("train DF-GAN from a preset (--set NAME=VALUE changes any setting)", "train --preset shapes-32-cpu"),
    "sample": ("draw images from captions with a shipped model or a run", "sample shapes-32 --prompt 'a red circle'"),
    "evaluate": ("FID and friends on a checkpoint or run folder", "evaluate runs/RUN_FOLDER --protocol standard"),
    "pretrain": ("pretrain a DAMSM text encoder", "pretrain --dataset shapes --out runs/damsm"),
    "export": ("a shipped generator as ONNX for a web page", "export shapes-32 --onnx site/model"),
}


def usage() -> str:
    """The command list: what each command does and an example, then where to read more."""
    python = dflib_command().rpartition(" -m dflib")[0]
    lines = [f"usage: {python} -m dflib <command> [options]", "", "commands:"]
    for name in COMMANDS:
        what, example = EXAMPLES[name]
        lines += [f"  {name:<9} {what}", f"            e.g. {python} -m dflib {example}"]
    lines += ["", f"Each command has --help, e.g. {python} -m dflib train --help"]
    return "\n".join(lines)


def _run(argv: list[str]) -> int:
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] not in COMMANDS:
        close = difflib.get_close_matches(argv[0], COMMANDS, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        print(f"python -m dflib: error: unknown command {argv[0]!r}{hint}; the commands are {', '.join(COMMANDS)} "
              "(python -m dflib --help lists them with examples)", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[argv[0]])  # dflib.cli.* or a package beside dflib (dflib/cli)
    return int(module.main(argv[1:]) or 0)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = argv[0] if argv and argv[0] in COMMANDS else "command"
    return exit_on_interrupt(command, lambda: _run(argv))


if __name__ == "__main__":
    sys.exit(main())
