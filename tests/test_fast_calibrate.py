"""fast=auto and threads=0 on a CPU are decided by timing (dflib.fast.calibrate), never from CPU flags alone."""

from __future__ import annotations

import argparse

import pytest
import torch

import dflib.cli.train as cli_train
from dflib.config import ModelConfig, get_preset
from dflib.fast import FastOptions, calibrate_cpu, pick_fastest
from dflib.fast.calibrate import Calibration

TINY = ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=16)


def test_pick_fastest_keeps_the_default_unless_another_is_clearly_faster():
    # index 0 is the default (one thread, reference step)
    assert pick_fastest({(0, 0): 1.0, (0, 1): 0.97, (1, 0): 0.99, (1, 1): 0.96}) == (0, 0)  # all within 5%
    assert pick_fastest({(0, 0): 1.0, (0, 1): 0.90, (1, 0): 0.99, (1, 1): 0.96}) == (0, 1)
    # a slower option is never picked, however it is ordered
    assert pick_fastest({(0, 0): 1.0, (0, 1): 1.3}) == (0, 0)
    # the best of several clear winners
    assert pick_fastest({(0, 0): 1.0, (0, 1): 0.8, (1, 0): 0.6, (1, 1): 0.7}) == (1, 0)
    assert pick_fastest({(0, 0): 1.0, (0, 1): 0.8}, margin=0.25) == (0, 0)


def test_calibration_times_every_candidate_and_restores_rng_and_threads():
    torch.set_num_threads(1)
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    cal = calibrate_cpu(TINY, 4, [1, 2, 2], [FastOptions(), FastOptions(channels_last=True)], rounds=2)
    assert torch.equal(torch.rand(3), expected_next)  # the run after it draws the same numbers
    assert torch.get_num_threads() == 1
    assert set(cal.seconds_per_step) == {"t1 reference", "t1 channels_last", "t2 reference", "t2 channels_last"}
    assert all(v > 0 for v in cal.seconds_per_step.values())
    assert cal.threads in (1, 2) and cal.options in (FastOptions(), FastOptions(channels_last=True))
    # the choice is the one pick_fastest makes from the printed table
    keys = {(0, 0): "t1 reference", (0, 1): "t1 channels_last", (1, 0): "t2 reference", (1, 1): "t2 channels_last"}
    ti, oi = pick_fastest({k: cal.seconds_per_step[v] for k, v in keys.items()})
    assert (cal.threads, cal.options.channels_last) == ((1, 2)[ti], bool(oi))
    assert "calibrated in" in cal.describe() and cal.cost_s > 0


def test_calibration_skips_a_model_whose_step_is_too_slow():
    cal = calibrate_cpu(TINY, 4, [1, 2], [FastOptions(), FastOptions(channels_last=True)], max_step_s=0.0)
    assert cal.skipped and cal.seconds_per_step == {}
    assert cal.threads == 1 and cal.options == FastOptions()
    assert "not calibrated" in cal.describe()


def _fake_calibration(monkeypatch, threads=2, options=FastOptions(channels_last=True)):
    calls = []

    def fake(model_cfg, batch, thread_choices, option_choices, **kw):
        calls.append((list(thread_choices), list(option_choices)))
        return Calibration(threads, options, {"t1 reference": 0.2}, 0.1)

    monkeypatch.setattr(cli_train, "calibrate_cpu", fake)
    monkeypatch.setattr(cli_train, "physical_cores", lambda: 4)
    monkeypatch.setattr(cli_train, "free_cores", lambda: 3)  # what an uncalibrated run uses
    return calls


def test_cli_records_the_measured_choice_in_the_config(monkeypatch):
    calls = _fake_calibration(monkeypatch)
    cfg = get_preset("shapes-32-cpu")
    assert cfg.fast == "auto" and cfg.threads == 0
    new, threads, cal = cli_train.choose_threads_and_fast(cfg, None, None)
    assert calls == [([1, 2, 4], [FastOptions(), FastOptions.for_device("cpu")])]
    assert threads == 2 and new.fast == "channels_last"  # saved in the checkpoint: resume repeats it
    assert cal is not None


def test_cli_times_only_what_the_user_left_open(monkeypatch):
    calls = _fake_calibration(monkeypatch, threads=1, options=FastOptions())
    cfg = get_preset("shapes-32-cpu")
    # threads given: only fast is timed
    new, threads, _ = cli_train.choose_threads_and_fast(cfg, 3, None)
    assert calls[-1][0] == [3] and threads == 1 and new.fast == "off"
    # fast given: only the threads are timed, with the user's options
    cfg.fast = "channels_last,batched_affine"
    new, threads, _ = cli_train.choose_threads_and_fast(cfg, None, None)
    assert calls[-1] == ([1, 2, 4], [FastOptions(batched_affine=True, channels_last=True)])
    assert new.fast == "channels_last,batched_affine"
    # both given: nothing is timed
    n = len(calls)
    new, threads, cal = cli_train.choose_threads_and_fast(cfg, 3, None)
    assert len(calls) == n and threads == 3 and cal is None


def test_cli_does_not_calibrate_a_resumed_run(monkeypatch):
    calls = _fake_calibration(monkeypatch)
    new, threads, cal = cli_train.choose_threads_and_fast(get_preset("shapes-32-cpu"), None, "runs/x")
    assert calls == [] and cal is None and threads == 3 and new.fast == "auto"


def test_cli_falls_back_to_the_free_cores_when_a_step_is_too_slow_to_time(monkeypatch):
    def skipped(model_cfg, batch, thread_choices, option_choices, **kw):
        return Calibration(thread_choices[0], option_choices[0], skipped="one step takes 9.0 s > 1.5 s")

    monkeypatch.setattr(cli_train, "calibrate_cpu", skipped)
    monkeypatch.setattr(cli_train, "physical_cores", lambda: 4)
    monkeypatch.setattr(cli_train, "free_cores", lambda: 3)
    new, threads, cal = cli_train.choose_threads_and_fast(get_preset("shapes-32-cpu"), None, None)
    assert threads == 3 and new.fast == "off" and cal.skipped
