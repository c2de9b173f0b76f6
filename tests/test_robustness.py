"""Nothing lost on a bad day, and errors that name the input and the fix (issue 14). Each test here failed
on the code before the fix (a second run deleted the first run's checkpoints, Ctrl-C lost everything
since the last save, damaged files loaded silently, bad settings gave tracebacks, ...)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dflib.checkpoint import (
    CheckpointDamagedError,
    atomic_torch_save,
    latest_checkpoint,
    list_checkpoints,
    load_training_checkpoint,
)
from dflib.run_folder import RunFolderError
from dflib.train import Trainer
from dflib.weights import CheckpointMismatchError

sys.path.insert(0, os.path.dirname(__file__))
from test_train_resume import TINY, tiny_cfg  # noqa: E402

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]


def _cli(*args: str) -> list[str]:
    sets = [x for s in TINY for x in ("--set", s)]
    return ["--preset", "shapes-32-cpu", "--threads", "1", *sets, *args]


# ---------------------------------------------------------------- run folders ----------


def test_a_second_run_never_touches_the_first_runs_folder(tmp_path):
    first = Trainer(tiny_cfg("save_every=2", "keep_last=2"), out_dir=tmp_path / "run")
    first.run(max_steps=4)
    before = [p.name for p in list_checkpoints(tmp_path / "run")]
    with pytest.raises(RunFolderError, match="already holds 2 checkpoint"):
        Trainer(tiny_cfg(), out_dir=tmp_path / "run")
    assert [p.name for p in list_checkpoints(tmp_path / "run")] == before
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert len(run["sessions"]) == 1 and run["sessions"][0]["resumed_from"] is None


def test_two_runs_started_in_the_same_second_get_two_folders(tmp_path, monkeypatch):
    import dflib.run_folder as rf

    monkeypatch.setattr(rf.time, "strftime", lambda fmt, *a: "20260101-120000")  # the same second
    cfg = tiny_cfg(f"out_dir={tmp_path}")
    a, b = Trainer(cfg), Trainer(cfg)
    assert a.out_dir.name == "shapes-32-cpu-20260101-120000" and b.out_dir.name == "shapes-32-cpu-20260101-120000-2"
    assert a.out_dir.is_dir() and b.out_dir.is_dir()  # claimed at once: a third run would get -3


def test_resuming_an_older_checkpoint_branches_instead_of_mixing(tmp_path):
    tr = Trainer(tiny_cfg("save_every=2", "keep_last=0"), out_dir=tmp_path / "run")
    tr.run(max_steps=6)
    old = list_checkpoints(tmp_path / "run")[0]
    with pytest.raises(RunFolderError, match="not the newest checkpoint"):
        Trainer(tiny_cfg(), resume=old)
    branch = Trainer(tiny_cfg(), resume=old, out_dir=tmp_path / "branch")
    branch.run(max_steps=4)
    assert latest_checkpoint(tmp_path / "run").name == "state_step_00000006.pth"  # the first run is untouched
    assert latest_checkpoint(tmp_path / "branch").name == "state_step_00000004.pth"
    sessions = json.loads((tmp_path / "branch" / "run.json").read_text())["sessions"]
    assert sessions[0]["resumed_from"] == str(old)


# ---------------------------------------------------------------- signals ----------


def test_sigterm_saves_the_last_step_and_exits_143(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "dflib", "train", *_cli("--out", str(out), "--max-steps", "100000",
                                                         "--set", "save_every=0")]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (out / "run.json").is_file() and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(2.0)  # some steps
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err
    saved = latest_checkpoint(out)
    assert saved is not None and load_training_checkpoint(saved)["step"] > 0
    last = err.strip().splitlines()[-1]
    assert last.startswith("[dflib train] stopped by SIGTERM after step") and "--resume" in last and "Traceback" not in err


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    stale = tmp_path / f".state_step_00000002.pth.tmp-{int(dead.stdout)}"
    stale.write_bytes(b"half a checkpoint")
    mine = tmp_path / f".other.tmp-{os.getpid()}"
    mine.write_bytes(b"in progress")
    atomic_torch_save({"x": torch.zeros(1)}, tmp_path / "state_step_00000004.pth")
    assert not stale.exists() and mine.exists()


# ---------------------------------------------------------------- damaged files ----------


def test_flipped_bytes_are_detected_and_the_previous_checkpoint_named(tmp_path):
    tr = Trainer(tiny_cfg("save_every=2", "keep_last=0"), out_dir=tmp_path / "run")
    tr.run(max_steps=4)
    good, newest = list_checkpoints(tmp_path / "run")
    data = bytearray(newest.read_bytes())
    for i in range(len(data) // 2, len(data) // 2 + 4):
        data[i] ^= 0xFF
    newest.write_bytes(bytes(data))
    with pytest.raises(CheckpointDamagedError, match="damaged") as exc:
        load_training_checkpoint(tmp_path / "run")
    assert str(good) in str(exc.value)
    assert load_training_checkpoint(good)["step"] == 2


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_a_malicious_checkpoint_is_refused_in_our_words(tmp_path):
    path = tmp_path / "state_step_00000001.pth"
    torch.save({"model": {}, "optimizers": {}, "x": _Evil()}, path)
    with pytest.raises(CheckpointMismatchError) as exc:
        load_training_checkpoint(path)
    msg = str(exc.value)
    assert msg.startswith(f"refused to load {path}: it needs the Python object posix.system")
    assert "will likely succeed" not in msg and "weights_only=False" not in msg


def test_a_full_disk_is_reported_as_one(tmp_path, monkeypatch):
    import shutil

    def full(*a, **k):
        raise RuntimeError("[enforce fail at inline_container.cc:664] . unexpected pos 576 vs 470")

    monkeypatch.setattr(torch, "save", full)
    monkeypatch.setattr(shutil, "disk_usage", lambda p: shutil._ntuple_diskusage(100, 100, 0))
    with pytest.raises(OSError, match="disk is full") as exc:
        atomic_torch_save({"x": 1}, tmp_path / "a.pth")
    assert "unexpected pos" not in str(exc.value)
    assert not list(tmp_path.glob(".*tmp*"))


# ---------------------------------------------------------------- clear errors ----------


@pytest.mark.parametrize(
    "setting, words",
    [
        ("batch_size=0", "batch_size=0 must be positive"),
        ("log_every=0", "log_every=0 must be positive"),
        ("lr_d=-1e-4", "lr_d=-0.0001 must be positive"),
        ("model.ngf=two", "needs a number"),
        ("no_such_field=3", "unknown setting 'no_such_field'"),
    ],
)
def test_bad_settings_are_one_line_errors(tmp_path, capsys, setting, words):
    from dflib.cli.train import main

    rc = main(_cli("--out", str(tmp_path / "run"), "--set", setting))
    err = capsys.readouterr().err
    assert rc == 2 and words in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()


def test_set_on_resume_is_refused_unless_it_may_change(tmp_path, capsys):
    from dflib.cli.train import main

    assert main(_cli("--out", str(tmp_path / "run"), "--max-steps", "2")) == 0
    rc = main(["--resume", str(tmp_path / "run"), "--set", "lr_g=1e-3"])
    assert rc == 2 and "lr_g cannot change on resume" in capsys.readouterr().err
    assert main(["--resume", str(tmp_path / "run"), "--max-steps", "3", "--set", "progress=false"]) == 0


def test_damsm_without_a_pretrained_encoder_is_refused(tmp_path, capsys):
    from dflib.cli.train import main

    rc = main(_cli("--out", str(tmp_path / "run"), "--set", "text_encoder=damsm", "--set", "model.cond_dim=256"))
    err = capsys.readouterr().err
    assert rc == 2 and "no text_encoder_path given" in err and "text_encoder=minilm" in err


def test_another_dataset_starts_from_its_own_options(tmp_path):
    from dflib.cli.train import build_parser, resolve_config

    args = build_parser().parse_args(["--set", "data.name=folder", "--set", f"data.root={tmp_path}",
                                      "--set", "data.options.test_fraction=0.2"])
    cfg = resolve_config(args)
    assert cfg.data.name == "folder" and cfg.data.options == {"test_fraction": 0.2}
    same = resolve_config(build_parser().parse_args(["--set", "data.name=shapes"]))
    assert same.data.options["max_objects"] == 1  # the preset's own dataset keeps its options


def test_minilm_with_a_pth_file_says_which_encoder_to_choose(tmp_path):
    from dflib.config import apply_overrides
    from dflib.text import build_encoder

    f = tmp_path / "text_encoder.pth"
    f.write_bytes(b"")
    cfg = apply_overrides(tiny_cfg(), {"text_encoder": "minilm", "text_encoder_path": str(f)})
    with pytest.raises(ValueError, match="add --set text_encoder=damsm"):
        build_encoder(cfg)


@pytest.mark.parametrize("n", ["0", "-1"])
def test_sampling_zero_or_negative_images_is_a_usage_error(tmp_path, capsys, n):
    from dflib.cli.sample import main

    with pytest.raises(SystemExit) as exc:
        main([str(tmp_path), "--prompt", "a red circle", "--n", n])
    assert exc.value.code == 2 and f"--n must be at least 1, got {n}" in capsys.readouterr().err


def test_sampling_a_missing_checkpoint_is_one_line(tmp_path, capsys):
    from dflib.cli.sample import main

    assert main([str(tmp_path / "nothing"), "--prompt", "a red circle"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("[dflib sample] error:") and len(err.strip().splitlines()) == 1


def test_damsm_pretraining_stops_on_nan_and_rejects_zero_epochs(tmp_path, capsys):
    from dfdamsm.cli import main

    base = ["--dataset", "shapes", "--imsize", "32", "--batch-size", "8", "--max-steps-per-epoch", "2",
            "--emb-dim", "8", "--hidden", "16", "--device", "cpu", "--quiet", "--dataset-kw", "length=16"]
    with pytest.raises(SystemExit) as exc:
        main(base + ["--out", str(tmp_path / "a"), "--epochs", "0"])
    assert exc.value.code == 2 and "--epochs must be at least 1" in capsys.readouterr().err
    rc = main(base + ["--out", str(tmp_path / "b"), "--epochs", "2", "--lr", "1e9"])
    assert rc == 1 and "DAMSM loss became" in capsys.readouterr().err
    assert not (tmp_path / "b" / "text_encoder.pth").exists()


def test_resume_keeps_the_runs_own_stopping_point_unless_told(tmp_path):
    from dflib.cli.train import main

    assert main(_cli("--out", str(tmp_path / "run"), "--max-steps", "2")) == 0
    assert main(["--resume", str(tmp_path / "run")]) == 0  # max_steps=2 was saved: nothing more to do
    assert latest_checkpoint(tmp_path / "run").name == "state_step_00000002.pth"
    assert main(["--resume", str(tmp_path / "run"), "--max-steps", "3"]) == 0
    assert latest_checkpoint(tmp_path / "run").name == "state_step_00000003.pth"
