"""The commands the README documents, run at tiny size through the interpreter running the tests, each in a
subprocess: exit status 0 and the files it promises. And every ``make ...`` / ``python -m dflib ...`` line of
README.md names a real Makefile target, dflib command, preset and options."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 300

# the make-train preset shrunk to a few seconds: small networks, batch 2, 16 images, no evaluation
TINY = ["--set", "model.ngf=8", "--set", "model.ndf=8", "--set", "batch_size=2", "--set", "data.options.length=16",
        "--set", "eval_samples=0", "--set", "eval_fid=0", "--set", "tensorboard=false", "--set", "progress=false",
        "--set", "log_every=1", "--set", "sample_every=3", "--set", "save_every=3", "--set", "n_sample_rows=2",
        "--threads", "1"]


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """``python ARGS`` with this interpreter, one thread, offline, in ``cwd``; fails the test on a non-zero exit."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "MPLBACKEND": "Agg", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=TIMEOUT_S)
    assert proc.returncode == 0, f"python {shlex.join(args)} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
    return proc


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> Path:
    """``python -m dflib train --preset shapes-32-cpu --max-steps 3`` at tiny size: its run folder."""
    work = tmp_path_factory.mktemp("smoke")
    run(["-m", "dflib", "train", "--preset", "shapes-32-cpu", "--max-steps", "3", "--out", "runs/tiny", *TINY], work)
    return work / "runs" / "tiny"


def test_train_writes_a_run_folder(tiny_run):
    assert (tiny_run / "state_step_00000003.pth").is_file() and (tiny_run / "state_step_00000003.pth.sha256").is_file()
    assert list((tiny_run / "samples").glob("*.png"))
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert (m["preset"], m["steps"], m["threads"]) == ("shapes-32-cpu", 3, 1)
    assert json.loads((tiny_run / "config.json").read_text())["model"]["ngf"] == 8


def test_resume_continues_the_run(tiny_run):
    run(["-m", "dflib", "train", "--resume", str(tiny_run), "--max-steps", "5", "--threads", "1"], tiny_run.parent)
    assert (tiny_run / "state_step_00000005.pth").is_file()
    m = json.loads((tiny_run / "metrics.json").read_text())
    assert (m["steps"], m["steps_this_run"]) == (5, 2)


def test_sample_a_shipped_model(tmp_path):
    run(["-m", "dflib", "sample", "shapes-32", "--prompt", "a big red circle on the left", "--n", "4",
         "--out", "samples"], tmp_path)
    grid = tmp_path / "samples" / "a-big-red-circle-on-the-left.png"
    with Image.open(grid) as im:
        assert im.format == "PNG" and im.width >= 2 * 32 and im.height >= 2 * 32  # a 2 x 2 grid of 32 px images


def test_evaluate_a_run(tiny_run, tmp_path):
    run(["-m", "dflib", "evaluate", str(tiny_run), "--protocol", "standard", "--n", "8", "--device", "cpu",
         "--workers", "0", "--no-progress", "--out", "eval.json"], tmp_path)
    res = json.loads((tmp_path / "eval.json").read_text())
    assert res["protocol"] == "standard" and res["n_images"] == 8 and res["fid_standard"] > 0


def test_the_ablation_command(tmp_path):
    run([str(ROOT / "bench" / "ablation.py"), "--steps", "2", "--seeds", "0", "--variants", "dfgan", "--n-eval", "16",
         "--results", "res", "--runs", "runs", "--out", "a.json"], tmp_path)
    one = json.loads((tmp_path / "res" / "dfgan-seed0.json").read_text())
    assert (one["variant"], one["seed"], one["steps"]) == ("dfgan", 0, 2) and "acc_color" in one["metrics"]
    summary = json.loads((tmp_path / "a.json").read_text())
    assert summary["steps"] == 2 and [r["variant"] for r in summary["runs"]] == ["dfgan"]
    assert summary["summary"]["dfgan"]["acc_color"]["n"] == 1


# --------------------------------------------------------------------------------------------------
# every command line of README.md names something real
# --------------------------------------------------------------------------------------------------


def readme_command_lines(text: str) -> list[list[str]]:
    """The words of every line of a fenced shell block and of every inline code span of two words or more of
    ``text`` (comments dropped, ``VAR=value`` prefixes kept), ``<...>`` placeholders kept as one word."""
    text = re.sub(r"<[^<>\n]*>", lambda m: m.group(0).replace(" ", "_"), text)
    lines = []
    for lang, body in re.findall(r"^```(\w*)\n(.*?)^```", text, flags=re.S | re.M):
        if lang in ("", "bash", "sh", "shell"):
            lines += body.splitlines()
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    lines += [" ".join(span.split()) for span in re.findall(r"`([^`]+)`", prose) if len(span.split()) > 1]
    out = []
    for line in lines:
        try:
            words = shlex.split(line, comments=True)
        except ValueError:
            continue
        if words:
            out.append(words)
    return out


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([A-Za-z][\w-]*):", (ROOT / "Makefile").read_text(), flags=re.M))


def dflib_argv(words: list[str]) -> list[str] | None:
    """``[command, *args]`` of a ``python -m dflib ...`` or ``torchrun ... -m dflib ...`` line, else None."""
    words = [w for w in words if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", w)]
    if not words or not re.fullmatch(r"(\S*/)?(python(3(\.\d+)?)?|torchrun)", words[0]) or "-m" not in words:
        return None
    i = words.index("-m")
    return words[i + 2:] if words[i + 1:i + 2] == ["dflib"] else None


def check_dflib_command(argv: list[str]) -> None:
    """``argv`` parses with the command's own parser; a training line also resolves to a valid configuration
    (preset and every ``--set`` name), a sampling line names a shipped model or a path."""
    import importlib

    from dflib.cli import COMMANDS

    if argv in ([], ["--help"], ["-h"]):  # the dispatcher itself: it lists the commands
        return
    assert argv[0] in COMMANDS, f"python -m dflib {argv[:1]}: not a dflib command ({', '.join(COMMANDS)})"
    module = importlib.import_module(COMMANDS[argv[0]])
    try:
        args = module.build_parser().parse_args(argv[1:])
    except SystemExit:
        pytest.fail(f"python -m dflib {shlex.join(argv)}: the {argv[0]} command does not accept these options")
    if argv[0] == "train" and args.resume is None:
        module.resolve_config(args)  # ValueError on an unknown preset or setting
    if argv[0] == "sample" and not re.search(r"[/<]|\.pth$", args.checkpoint):
        from dflib.pretrained import list_pretrained

        assert args.checkpoint in list_pretrained(), f"python -m dflib sample {args.checkpoint}: no such shipped model"


def test_every_readme_command_names_a_real_target_command_and_preset():
    found = {"make": 0, "dflib": 0, "script": 0}
    targets = makefile_targets()
    for words in readme_command_lines((ROOT / "README.md").read_text()):
        plain = [w for w in words if not re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", w)]
        if plain[:1] == ["make"]:
            assert plain[1:] and set(plain[1:]) <= targets, f"{shlex.join(words)}: not a Makefile target"
            found["make"] += 1
        elif (argv := dflib_argv(words)) is not None:
            check_dflib_command(argv)
            found["dflib"] += 1
        elif re.fullmatch(r"(\S*/)?python(3(\.\d+)?)?", plain[0]) and plain[1:2] and plain[1].endswith(".py"):
            assert (ROOT / plain[1]).is_file(), f"{shlex.join(words)}: no such script"
            found["script"] += 1
    assert found["make"] >= 3 and found["dflib"] >= 6 and found["script"] >= 2, found  # the parser found them


def test_the_command_check_rejects_what_does_not_exist():
    with pytest.raises(AssertionError):
        check_dflib_command(["trian", "--preset", "shapes-32-cpu"])
    with pytest.raises(pytest.fail.Exception):
        check_dflib_command(["train", "--preset", "shapes-64-cpu"])
    with pytest.raises(ValueError):
        check_dflib_command(["train", "--set", "modle.ngf=8"])
    with pytest.raises(AssertionError):
        check_dflib_command(["sample", "no-such-model", "--prompt", "x"])
    words = readme_command_lines("use `make`: run `make lab` then\n```bash\nDFGAN_FAST=1 make test  # all\n"
                                 "torchrun --nproc_per_node=2 -m dflib train --preset coco-256\n```\n")
    assert words == [["DFGAN_FAST=1", "make", "test"], ["torchrun", "--nproc_per_node=2", "-m", "dflib", "train",
                                                        "--preset", "coco-256"], ["make", "lab"]]
    assert dflib_argv(words[1]) == ["train", "--preset", "coco-256"] and "lab" in makefile_targets()
