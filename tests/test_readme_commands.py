"""Every shell command that README.md and the notebooks' markdown cells show runs as written, at tiny size.

The commands are read from the files at test time (the README changes; nothing here is a copy of it):

* README.md: every line of a fenced ```` ```bash ````, ```` ```sh ````, ```` ```shell ```` or plain ```` ``` ````
  block (backslash continuations joined, ``# comments`` dropped) and every inline code span that starts
  with a command (``python … / .venv/bin/python … / python -m dflib …``, ``make …``, ``torchrun …``,
  ``pip …``, ``conda …``, ``bash …``), plus inline spans made only of ``--set NAME=VALUE`` pairs, which the
  README uses for "train with ``--set …``" and which are run as ``python -m dflib train <span>``;
* notebooks/*.ipynb: the same, in markdown cells.

Each command is split at ``&&`` / ``;`` and every part is either

* **run**: ``python -m dflib …`` (any ``dflib`` module, as written: a renamed module fails) in a
  subprocess with a timeout, in a scratch workspace (its ``runs/``, ``outputs/``, ``data/…`` are the
  workspace's), shrunk by options added before the command's own (``--set max_steps=2``-style: tiny
  networks, 2 steps, batch 2, no evaluation, a scratch ``--out``; the bag-of-words text encoder where the
  command does not choose one); it must exit 0 and leave what it promises (training: a checkpoint, a sample
  grid and ``metrics.json``; sampling: PNGs; pretraining: ``text_encoder.pth``; evaluation: its JSON);
  ``make <target>`` is run through its recipe (``make -n``): every ``python -m dflib`` line of it is run the
  same way; ``torchrun … -m dflib …`` runs as the same command in one process (no GPUs here);
* or **listed** in ``NOT_RUN`` below with the reason it cannot run here (downloads, GPUs, installs,
  interactive servers, the test suite itself).

Anything else fails the test: a new README command must run or be listed. Placeholders are filled from the
workspace: ``runs/<folder>`` / ``runs/<preset>-<timestamp>`` are runs made earlier in this module (made
on demand), ``data.root=path/to/folder`` / ``--root …`` is a generated tiny folder dataset,
``data/birds`` / ``data/coco`` are ``dflib.data.official.make_fixture`` datasets, and a file under another
command's ``--out`` (``runs/damsm/text_encoder.pth``) is made by running that command first.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
TIMEOUT_S = 300

pytestmark = pytest.mark.slow

# --------------------------------------------------------------------------------------------------
# what cannot run here, and why (regular expressions searched in one command, as written)
# --------------------------------------------------------------------------------------------------

NOT_RUN: list[tuple[str, str]] = [
    (r"^make lab\b|^\S*jupyter(-lab)? lab\b",
     "opens JupyterLab, an interactive server (tests/e2e drives it in a browser)"),
    (r"^make (test|unit|notebooks|e2e)\b", "runs the test suite, of which this test is a part"),
    (r"^make (execute|figures)\b", "re-runs every notebook in full (tens of minutes) and rewrites the committed "
                                   "notebooks and figures; make test runs every notebook under nbval"),
    (r"^make site\b", "builds the course site from the committed notebooks (tests/test_site.py builds it)"),
    (r"^make bench-gpu\b|\bbench/gpu\.sh\b", "needs a CUDA GPU"),
    (r"^make bench(?!-)\b|^\S*python\S* bench/", "times the training step for minutes on fresh networks "
                                                 "(tests/test_bench.py runs the bench scripts at tiny size)"),
    (r"^make( install)?$", "creates .venv and installs the pinned packages (network)"),
    (r"\bpip3? install\b", "installs packages (network)"),
    (r"\s-m venv\b", "creates a virtual environment (part of the install)"),
    (r"^conda\b", "conda is not installed on the test machines (the README says it is not tested in CI)"),
    (r"state_epoch_\d+\.pth", "needs the released DF-GAN checkpoint, a download (data/README.md)"),
    (r"--protocol official-", "needs torchvision's Inception-v3 weights and the shipped *_FIDK0.npz "
                              "statistics, downloads (tests/test_evaluate.py runs the protocol on a fixture)"),
    (r"\bNAME=VALUE\b|\bKEY=VALUE\b", "syntax of an option, not a command"),
    (r"^\S*python\S* tools/learning_curve\.py", "evaluates every checkpoint of a finished training run "
                                                "(tests/test_learning_curve.py runs it on a tiny run)"),
]

# scripts of the repository that only read it and finish in seconds: run as written, in the repository
READ_ONLY_SCRIPTS = {"tools/notebook_times.py"}

# --------------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------------

SHELL_LANGS = {"", "bash", "sh", "shell", "console", "zsh"}
_ENV = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=\S*$")
_PROGRAM = re.compile(r"^(\S*/)?(python(3(\.\d+)?)?|pip3?|make|torchrun|conda|bash)$")


@dataclass
class Command:
    text: str  # one command as written (whitespace collapsed)
    sources: list[str] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.text


def _first_program(words: list[str]) -> str | None:
    for w in words:
        if not _ENV.match(w):
            return w
    return None


def _placeholders_joined(text: str) -> str:
    """``runs/<run folder>`` -> ``runs/<run_folder>`` so that a placeholder stays one word."""
    return re.sub(r"<[^<>\n]*>", lambda m: m.group(0).replace(" ", "_"), text)


def _is_command_span(span: str) -> bool:
    try:
        words = shlex.split(_placeholders_joined(span))
    except ValueError:
        return False
    if len(words) < 2:  # a bare name ("`torchrun`", "`python3`", "`make`") is not a command
        return False
    if words[0] == "--set":
        return all(w == "--set" or "=" in w for w in words) and words[::2] == ["--set"] * len(words[::2])
    prog = _first_program(words)
    return bool(prog and _PROGRAM.match(prog))


def _is_train_command(span: str) -> bool:
    words = shlex.split(span)
    prog = _first_program(words)
    if not prog or not re.match(r"^(\S*/)?python", prog):
        return False
    rest = words[words.index(prog) + 1:]
    return rest[:3] == ["-m", "dflib", "train"] or rest[:2] in (["-m", "dflib.cli.train"], ["-m", "dflib.train"])


def combine(command: str, fragment: str) -> str:
    """``command`` with the ``--set`` pairs of ``fragment`` added (replacing the same names)."""
    words, extra = shlex.split(command), shlex.split(fragment)
    keys = {extra[i + 1].split("=", 1)[0] for i in range(0, len(extra) - 1, 2)}
    kept, i = [], 0
    while i < len(words):
        if words[i] == "--set" and i + 1 < len(words) and words[i + 1].split("=", 1)[0] in keys:
            i += 2
            continue
        kept.append(words[i])
        i += 1
    return shlex.join(kept + extra)


def _fenced_lines(lines: list[str], start: int) -> tuple[list[tuple[int, str]], int]:
    out, i = [], start
    while i < len(lines) and not lines[i].strip().startswith("```"):
        out.append((i, lines[i]))
        i += 1
    return out, i + 1


def _shell_commands(block: list[tuple[int, str]]) -> list[tuple[int, str]]:
    cmds, buf, first = [], "", None
    for ln, raw in block:
        line = raw.rstrip()
        if not buf and line.lstrip().startswith("$ "):
            line = line.lstrip()[2:]
        if first is None:
            first = ln
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        buf += line
        try:
            words = shlex.split(_placeholders_joined(buf), comments=True)
        except ValueError:
            words = buf.split()
        if words:
            cmds.append((first, shlex.join(words)))
        buf, first = "", None
    return cmds


def extract_commands(markdown: str, where: str) -> list[tuple[str, str]]:
    """``[(source, command)]`` of a markdown text: shell blocks and command-like inline spans."""
    lines = markdown.splitlines()
    found: list[tuple[str, str]] = []
    para: list[tuple[int, str]] = []

    def flush():
        if not para:
            return
        text = "\n".join(t for _, t in para)
        last_train = None  # "train with `python -m dflib train ...` ... or add `--set ...`": the reader combines them
        for m in re.finditer(r"(`+)(.+?)\1", text, flags=re.S):
            span = _placeholders_joined(" ".join(m.group(2).split()))
            if not _is_command_span(span):
                continue
            if span.startswith("--set ") and last_train:
                span = combine(last_train, span)
            elif _is_train_command(span):
                last_train = span
            ln = para[0][0] + text[: m.start()].count("\n")
            found.append((f"{where}:{ln + 1}", span))
        para.clear()

    i = 0
    while i < len(lines):
        stripped = lines[i].strip()
        if stripped.startswith("```"):
            flush()
            lang = stripped[3:].strip().lower()
            block, i = _fenced_lines(lines, i + 1)
            if lang in SHELL_LANGS:
                found += [(f"{where}:{ln + 1}", c) for ln, c in _shell_commands(block)]
            continue
        if not stripped or re.match(r"^\s*([-*+]|\d+[.)])\s", lines[i]):  # a blank line or a new list item
            flush()
        if stripped:
            para.append((i, lines[i]))
        i += 1
    flush()
    return found


def _notebook_markdown(path: Path) -> list[tuple[str, str]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    out = []
    for k, cell in enumerate(cells):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            out.append((f"{path.relative_to(ROOT)} cell {k}", src))
    return out


def collect_commands() -> list[Command]:
    found = extract_commands(README.read_text(encoding="utf-8"), "README.md")
    for nb in NOTEBOOKS:
        for where, src in _notebook_markdown(nb):
            found += [(where.rsplit(":", 1)[0], c) for where, c in extract_commands(src, where)]
    merged: dict[str, Command] = {}
    for where, text in found:
        for part in re.split(r"\s*(?:&&|;|\|\|)\s*", text):
            part = part.strip()
            if part:
                merged.setdefault(part, Command(part)).sources.append(where)
    return list(merged.values())


COMMANDS = collect_commands()


def not_run_reason(text: str) -> str | None:
    words = text.split()
    if words and words[0] == "make":  # `make PYTHON=/x lab` is `make lab`
        text = " ".join(["make", *[w for w in words[1:] if not _ENV.match(w)]])
    for pattern, reason in NOT_RUN:
        if re.search(pattern, text):
            return reason
    return None


# --------------------------------------------------------------------------------------------------
# the workspace: scratch folders, generated data, runs made so far
# --------------------------------------------------------------------------------------------------

FOLDER_COLOURS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220), "yellow": (230, 220, 30)}


def write_folder_dataset(root: Path, n: int = 16) -> None:
    """A tiny bring-your-own dataset: PNGs with a one-line .txt caption each."""
    root.mkdir(parents=True, exist_ok=True)
    names = list(FOLDER_COLOURS)
    for i in range(n):
        colour = names[i % len(names)]
        arr = np.full((24, 24, 3), 245, np.uint8)
        s = 4 + (i % 3) * 2
        arr[s:24 - s, s:24 - s] = FOLDER_COLOURS[colour]
        Image.fromarray(arr).save(root / f"img_{i:02d}.png")
        (root / f"img_{i:02d}.txt").write_text(f"a {colour} square on a white background\nthe square is {colour}\n")


@dataclass
class Result:
    ok: bool
    message: str


class Workspace:
    def __init__(self, path: Path):
        self.path = path
        self.runs: list[tuple[str, Path]] = []  # (preset, run folder), oldest first
        self.done: dict[str, Result] = {}
        self.counter = 0
        self.env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
                    "TRANSFORMERS_OFFLINE": "1", "MPLBACKEND": "Agg",
                    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)}
        self.env.pop("CUDA_VISIBLE_DEVICES", None)

    # ---- data and placeholders -------------------------------------------------------------------
    def ensure_data_root(self, root: str, kind: str | None) -> None:
        p = Path(root)
        if p.is_absolute():
            return
        target = self.path / p
        if target.exists():
            return
        if kind in ("cub", "coco", "birds"):
            from dflib.data.official import make_fixture

            make_fixture(target, kind="cub" if kind == "birds" else kind, n_train=6, n_test=2)
        else:
            write_folder_dataset(target)

    def run_folder(self, preset: str | None) -> Path:
        for p, folder in reversed(self.runs):
            if preset is None or p == preset:
                return folder
        maker = Command(f"python -m dflib train --preset {preset or 'shapes-32-cpu'}", ["(a run for a placeholder)"])
        res = self.run(maker)
        if not res.ok:
            raise RuntimeError(f"could not make a run for a placeholder: {res.message}")
        return self.run_folder(preset)

    def fill(self, word: str) -> str:
        """Fill ``<...>`` placeholders in one argument."""
        if "<" not in word:
            return word
        key, eq, value = word.rpartition("=") if "=" in word and not word.startswith("<") else ("", "", word)
        m = re.fullmatch(r"(?:\./)?runs/([^<]*)<[^>]*>(.*)", value)
        if m:
            preset = m.group(1).rstrip("-") or None
            if preset is not None and not _known_preset(preset):
                preset = None
            folder = self.run_folder(preset)
            return f"{key}{eq}{folder}{m.group(2)}"
        if value == "<name>":  # a model shipped with the repository (python -m dflib sample <name>)
            try:
                from dflib.pretrained import list_pretrained
            except ImportError as exc:
                raise ValueError(f"{word!r}: no dflib.pretrained to name a shipped model ({exc})") from None
            names = list_pretrained()
            if not names:
                raise ValueError(f"{word!r}: no model ships with the repository "
                                 "(dflib.pretrained.list_pretrained() is empty)")
            return f"{key}{eq}{names[0]}"
        if re.fullmatch(r"<(checkpoint|ckpt|run|run_folder|folder)>", value):
            folder = self.run_folder(None)
            if "ck" in value:
                return f"{key}{eq}{_checkpoints(folder)[-1]}"
            return f"{key}{eq}{folder}"
        raise ValueError(f"cannot fill the placeholder in {word!r} (add a rule to Workspace.fill)")

    def ensure_inputs(self, words: list[str]) -> None:
        """Files that another README command writes (under its --out) are made by running it first."""
        for w in words:
            value = w.rpartition("=")[2]
            if "/" not in value or value.startswith("-") or Path(value).is_absolute() or (self.path / value).exists():
                continue
            for other in COMMANDS:
                ow = _words(other.text)
                if "--out" in ow and ow.index("--out") + 1 < len(ow):
                    out = ow[ow.index("--out") + 1].rstrip("/")
                    if value.startswith(out + "/"):
                        res = self.run(other)
                        if not res.ok:
                            raise RuntimeError(f"needs {value}, which {other.text!r} writes, but that command "
                                               f"failed: {res.message}")

    # ---- running ---------------------------------------------------------------------------------
    def run(self, cmd: Command) -> Result:
        if cmd.text in self.done:
            return self.done[cmd.text]
        reason = not_run_reason(cmd.text)
        if reason:
            return Result(False, f"is listed in NOT_RUN ({reason})")
        self.done[cmd.text] = Result(False, "still running (a command that needs itself)")
        try:
            res = self._run(cmd)
        except (ValueError, RuntimeError) as exc:
            res = Result(False, str(exc))
        self.done[cmd.text] = res
        return res

    def _run(self, cmd: Command) -> Result:
        words = _words(cmd.text)
        env_words = [w for w in words[: words.index(_first_program(words))]] if _first_program(words) else []
        env = dict(self.env, **dict(w.split("=", 1) for w in env_words))
        words = words[len(env_words):]
        prog = Path(words[0]).name
        if words[0] == "--set":
            return self.run_dflib(["-m", "dflib", "train", *words], env, cmd)
        if words[1:] == ["--version"]:
            exe = sys.executable if prog.startswith("python") else shutil.which(words[0])
            if exe is None:
                return Result(False, f"{words[0]} is not installed here")
            return self.call_exe([exe, "--version"], env, ROOT)
        if prog.startswith("python") and words[1:2] and words[1] in READ_ONLY_SCRIPTS:
            return self.call_exe([sys.executable, *words[1:]], env, ROOT)
        if prog == "make":
            return self.run_make(words, cmd)
        if prog == "torchrun":
            i = words.index("-m") if "-m" in words else None
            if i is None:
                return Result(False, "torchrun without -m MODULE: not understood")
            return self.run_dflib(words[i:], env, cmd, note="torchrun run as one process (no GPUs here)")
        if _PROGRAM.match(words[0]) and prog.startswith("python") and words[1:2] == ["-m"] and \
                len(words) > 2 and words[2].split(".")[0] == "dflib":
            return self.run_dflib(words[1:], env, cmd)
        reason = not_run_reason(cmd.text)
        return Result(False, f"neither run by this test nor listed in NOT_RUN{f' ({reason})' if reason else ''}")

    def run_make(self, words: list[str], cmd: Command) -> Result:
        if shutil.which("make") is None:
            pytest.skip("make is not installed")
        dry = subprocess.run(["make", "-n", "--no-print-directory", *words[1:]], cwd=ROOT, env=self.env,
                             capture_output=True, text=True, timeout=60)
        if dry.returncode != 0:
            return Result(False, f"make -n {' '.join(words[1:])} failed: {dry.stderr.strip()[-2000:]}")
        lines = [ln.lstrip("@").strip() for ln in dry.stdout.splitlines()]
        dflib_lines = [ln for ln in lines if re.search(r"\s-m\s+dflib\b", ln)]
        if not dflib_lines:
            return Result(False, f"its recipe runs no python -m dflib command and it is not in NOT_RUN: {lines}")
        for ln in dflib_lines:
            res = self.run(Command(ln, [f"{cmd.text} (recipe)"]))
            if not res.ok:
                return Result(False, f"recipe line {ln!r}: {res.message}")
        return Result(True, f"ran its recipe: {dflib_lines}")

    def run_dflib(self, argv: list[str], env: dict, cmd: Command, note: str = "") -> Result:
        """``argv`` = ``['-m', module, ...]``."""
        module, args = argv[1], list(argv[2:])
        if module == "dflib":
            sub = args[0] if args and not args[0].startswith("-") else None
            head, args = ["-m", "dflib", *([sub] if sub else [])], args[1:] if sub else args
        else:
            head = ["-m", module]
            last = module.split(".")[-1]
            sub = {"train": "train", "sample": "sample", "evaluate": "evaluate", "protocol": "evaluate",
                   "pretrain": "pretrain", "damsm": "pretrain", "damsm_train": "pretrain"}.get(last)
        args = [self.fill(a) for a in args]
        same = "\0".join(["dflib-run", *head, *args])  # torchrun X / python -m X / a make recipe running X: once
        if same in self.done:
            return self.done[same]
        self.ensure_inputs(args)
        if any(a in ("-h", "--help") for a in args) or sub is None:
            return self.call(head + args, env, expect=None, cmd=cmd)
        shrink = {"train": self.shrink_train, "sample": self.shrink_sample, "pretrain": self.shrink_pretrain,
                  "evaluate": self.shrink_evaluate}[sub]
        before, after, expect = shrink(args)
        res = self.call(head + before + args + after, env, expect, cmd)
        if note and res.ok:
            res.message = f"{note}; {res.message}"
        self.done[same] = res
        return res

    def next_out(self, kind: str) -> str:
        self.counter += 1
        return str(self.path / "scratch" / f"{kind}-{self.counter:02d}")

    def shrink_train(self, args: list[str]):
        sets = dict(_sets(args))
        given = set(sets) | {a[2:].replace("-", "_") for a in args if a.startswith("--")}
        if "print_config" in given:
            return [], [], None
        from dflib.config import TRAIN_PRESETS

        preset = _option(args, "--preset") or "shapes-32-cpu"
        if "resume" in given:
            folder = Path(_option(args, "--resume"))
            folder = folder if folder.is_dir() else folder.parent
            done = _checkpoints(folder)
            step = int(re.search(r"(\d+)", done[-1].name).group(1)) if done else 0
            try:
                from dflib.config import RESUME_FIELDS
            except ImportError:
                RESUME_FIELDS = ("max_steps",)
            extra = {"progress": "false", "tensorboard": "false", "log_every": "1", "time_limit_min": "0"}
            before = [x for k, v in extra.items() if k in RESUME_FIELDS and k not in given
                      for x in ("--set", f"{k}={v}")]
            return before, ["--set", f"max_steps={step + 2}", "--threads", "1"], ("train", folder, step)
        cfg = TRAIN_PRESETS.get(preset)
        shrink = {
            "batch_size": 2, "log_every": 1, "sample_every": 2, "save_every": 2, "sample_every_epochs": 0,
            "save_every_epochs": 0, "tensorboard": "false", "progress": "false",
            "time_limit_min": 0, "device": "cpu", "data.num_workers": 0, "model.imsize": 32, "model.ngf": 8,
            "model.ndf": 8, "n_sample_rows": 2,
        }
        shrink.update({name: 0 for name in _eval_settings()})  # end-of-run evaluations (accuracy, FID): off
        if not any(k.startswith("text_encoder") for k in given):
            shrink["text_encoder"] = "bow"  # MiniLM / DAMSM are exercised where a command asks for them
        before = [x for k, v in shrink.items() if k not in given and _has_setting(k) for x in ("--set", f"{k}={v}")]
        name = sets.get("data.name", cfg.data.name if cfg else "shapes")
        root = sets.get("data.root", cfg.data.root if cfg else None)
        if root:
            self.ensure_data_root(root, name)
        if "text_encoder_path" in sets:
            self.ensure_inputs([sets["text_encoder_path"]])
        out = _option(args, "--out")
        if out is None:
            out = self.next_out(f"train-{preset}")
            before += ["--out", out]
        return before, ["--max-steps", "2", "--threads", "1"], ("train", Path(out), preset)

    def shrink_sample(self, args):
        before = [] if "--device" in args else ["--device", "cpu"]
        out = _option(args, "--out")
        if out is None:
            out = self.next_out("sample")
            before += ["--out", out]
        return before, [], ("sample", Path(out))

    def shrink_pretrain(self, args):
        root, dataset = _option(args, "--root"), _option(args, "--dataset")
        if root:
            self.ensure_data_root(root, dataset)
        before = [] if "--device" in args else ["--device", "cpu"]
        if "--quiet" not in args:
            before.append("--quiet")
        if dataset == "shapes" and not any(a.startswith("length=") for a in args):
            before += ["--dataset-kw", "length=16"]
        after = ["--epochs", "1", "--max-steps-per-epoch", "2", "--batch-size", "4", "--threads", "1"]
        out = _option(args, "--out")
        return before, after, ("pretrain", Path(out) if out else None)

    def shrink_evaluate(self, args):
        before = [x for flag, v in (("--device", "cpu"), ("--workers", "0")) if flag not in args for x in (flag, v)]
        if "--no-progress" not in args:
            before.append("--no-progress")
        out = _option(args, "--out")
        return before, ["--n", "8"], ("evaluate", Path(out) if out else None)

    def call_exe(self, argv: list[str], env: dict, cwd: Path) -> Result:
        try:
            proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Result(False, f"timed out after {TIMEOUT_S} s: {shlex.join(argv)}")
        if proc.returncode != 0:
            return Result(False, f"exit {proc.returncode}: {shlex.join(argv)}\n{proc.stderr[-3000:]}")
        return Result(True, f"ran: {shlex.join(argv)}")

    def call(self, argv: list[str], env: dict, expect, cmd: Command) -> Result:
        full = [sys.executable, *argv]
        shown = "python " + shlex.join(argv)
        t0 = time.monotonic()
        try:
            proc = subprocess.run(full, cwd=self.path, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired:
            return Result(False, f"timed out after {TIMEOUT_S} s: {shown}")
        shown += f"  [{time.monotonic() - t0:.0f} s]"
        tail = (proc.stdout[-1500:] + "\n" + proc.stderr[-3000:]).strip()
        if proc.returncode != 0:
            return Result(False, f"exit {proc.returncode}: {shown}\n{tail}")
        problem = self.check_outputs(expect)
        if problem:
            return Result(False, f"exit 0 but {problem}: {shown}\n{tail}")
        return Result(True, f"ran: {shown}")

    def check_outputs(self, expect) -> str | None:
        if expect is None:
            return None
        kind = expect[0]
        if kind == "train":
            folder = expect[1] if expect[1].is_absolute() else self.path / expect[1]
            if len(expect) == 3 and isinstance(expect[2], int):  # resumed
                done = _checkpoints(folder)
                step = int(re.search(r"(\d+)", done[-1].name).group(1)) if done else 0
                return None if step > expect[2] else f"no newer checkpoint in {folder} (still step {expect[2]})"
            if not _checkpoints(folder):
                return f"no checkpoint (state_*.pth) in {folder}"
            if not list(folder.rglob("*.png")):
                return f"no sample grid (*.png) in {folder}"
            if not (folder / "metrics.json").is_file():
                return f"no metrics.json in {folder}"
            self.runs.append((expect[2], folder))
            return None
        if kind == "sample":
            folder = expect[1] if expect[1].is_absolute() else self.path / expect[1]
            return None if list(folder.rglob("*.png")) else f"no PNG in {folder}"
        if kind == "pretrain":
            if expect[1] is None:
                return None
            folder = expect[1] if expect[1].is_absolute() else self.path / expect[1]
            return None if (folder / "text_encoder.pth").is_file() else f"no text_encoder.pth in {folder}"
        if kind == "evaluate":
            if expect[1] is not None:
                p = expect[1] if expect[1].is_absolute() else self.path / expect[1]
                return None if p.is_file() else f"no result file {p}"
            return None if list(self.path.rglob("eval_*.json")) else "no eval_*.json written"
        return None


def _words(text: str) -> list[str]:
    return shlex.split(text)


def _option(args: list[str], flag: str) -> str | None:
    for i, a in enumerate(args):
        if a == flag and i + 1 < len(args):
            return args[i + 1]
        if a.startswith(flag + "="):
            return a.split("=", 1)[1]
    return None


def _sets(args: list[str]) -> list[tuple[str, str]]:
    out = []
    for i, a in enumerate(args):
        if a == "--set" and i + 1 < len(args) and "=" in args[i + 1]:
            k, v = args[i + 1].split("=", 1)
            out.append((k.strip().removeprefix("train."), v))
    return out


def _checkpoints(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("state_*.pth"))


def _has_setting(dotted: str) -> bool:
    """Whether the training configuration has this field (shrinking never names one it lacks)."""
    from dataclasses import fields, is_dataclass

    from dflib.config import TrainConfig

    obj = TrainConfig()
    for name in dotted.split("."):
        if not is_dataclass(obj) or name not in {f.name for f in fields(obj)}:
            return False
        obj = getattr(obj, name)
    return True


def _eval_settings() -> list[str]:
    """The training configuration's ``eval_*`` counts (images evaluated at the end of a run)."""
    from dataclasses import fields

    from dflib.config import TrainConfig

    default = TrainConfig()
    return [f.name for f in fields(default) if f.name.startswith("eval_") and isinstance(getattr(default, f.name), int)]


def _known_preset(name: str) -> bool:
    from dflib.config import TRAIN_PRESETS

    return name in TRAIN_PRESETS


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return Workspace(tmp_path_factory.mktemp("readme_commands"))


# --------------------------------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------------------------------


def test_the_extractor_finds_the_commands():
    """Guards against a parser that silently finds nothing (and checks the rules on a known text)."""
    sample = (
        "Intro `make lab` and `torchrun` and `python3`.\n\n```bash\n"
        "make train   # comment\n.venv/bin/python -m dflib sample runs/<folder> \\\n    --prompt \"a b\" --n 4\n```\n"
        "then train with `--set data.name=folder\n  --set data.root=x` or `--fast on`.\n"
        "```python\nimport dflib\n```\n\n"
        "- train: `python -m dflib train --set data.name=folder --set text_encoder=minilm`, or add\n"
        "  `--set text_encoder=damsm --set text_encoder_path=p.pth`\n"
        "- alone: `--set batch_size=4`\n"
    )
    got = [c for _, c in extract_commands(sample, "t")]
    assert got == ["make lab", "make train", ".venv/bin/python -m dflib sample 'runs/<folder>' --prompt 'a b' --n 4",
                   "--set data.name=folder --set data.root=x",
                   "python -m dflib train --set data.name=folder --set text_encoder=minilm",
                   "python -m dflib train --set data.name=folder --set text_encoder=damsm "
                   "--set text_encoder_path=p.pth",
                   "--set batch_size=4"]
    assert not_run_reason("make PYTHON=/path/to/python3.12 lab") and not_run_reason(".venv/bin/jupyter lab")
    assert any("dflib" in c.text for c in COMMANDS), "no python -m dflib command found in README.md"


@pytest.mark.parametrize("cmd", COMMANDS, ids=[c.id for c in COMMANDS])
def test_command_runs_as_written(cmd, workspace):
    reason = not_run_reason(cmd.text)
    if reason:
        pytest.skip(f"not run here: {reason}")
    res = workspace.run(cmd)
    assert res.ok, f"{cmd.text!r} (from {', '.join(cmd.sources)}) {res.message}"
