"""bench/train_step.py: the variant list, a timed row, and a failing variant that does not lose the others."""

from __future__ import annotations

import json

import pytest
import torch

torch.set_num_threads(1)


def _args(**kw):
    import argparse

    base = dict(variants=None, ablate=False, fast="off")
    return argparse.Namespace(**{**base, **kw})


def test_variant_list_puts_the_reference_first_and_drops_cuda_only_options_on_a_cpu(load_bench):
    b = load_bench("train_step")
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert b.variant_list(_args(), cpu) == ["off"]
    assert b.variant_list(_args(fast="on"), cpu) == ["off", "on"]
    assert b.variant_list(_args(variants="on; on,cuda_graphs ;bf16"), cpu) == ["off", "on", "bf16"]
    full = b.variant_list(_args(ablate=True), cuda)
    assert full == list(b.ABLATION) and full[0] == "off" and "on,compile,cuda_graphs" in full
    on_cpu = b.variant_list(_args(ablate=True), cpu)
    assert "cuda_graphs" not in on_cpu and "cudnn_benchmark" not in on_cpu and "compile" in on_cpu


def test_bench_one_reports_a_full_step_with_the_fast_options(load_bench):
    from dflib.config import ModelConfig
    from dflib.fast import FastOptions

    b = load_bench("train_step")
    cfg = ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=6)
    row = b.bench_one(cfg, batch=4, steps=2, warmup=1, device=torch.device("cpu"),
                      fast=FastOptions(batched_affine=True, channels_last=True))
    assert row["steps"] == 2 and row["batch"] == 4 and row["imsize"] == 32
    assert row["images_per_s"] == pytest.approx(4 / row["s_per_step"])
    assert row["fast"]["batched_affine"] and row["fast"]["channels_last"]
    assert row["errD"] > 0 and torch.isfinite(torch.tensor(row["errG"]))
    assert "32" in b.format_row({**row, "path": "x"})


def test_main_keeps_going_after_a_failing_variant_and_writes_json(tmp_path, monkeypatch, capsys, load_bench):
    b = load_bench("train_step")
    real = b.bench_one

    def flaky(cfg, batch, steps, warmup, device, seed=0, fast=None):
        if fast is not None and fast.channels_last:
            raise RuntimeError("capture failed")
        return real(cfg, batch, steps, warmup, device, seed=seed, fast=fast)

    monkeypatch.setattr(b, "bench_one", flaky)
    monkeypatch.setattr(b, "get_preset", lambda name: type("P", (), {"model": _tiny_model()})())
    out = tmp_path / "res.json"
    rc = b.main(["--device", "cpu", "--preset", "tiny", "--batch", "2", "--steps", "1", "--warmup", "0",
                 "--variants", "off;channels_last;batched_affine", "--out", str(out)])
    assert rc == 0
    rows = json.loads(out.read_text())["results"]
    assert [r["path"] for r in rows] == ["reference", "channels_last", "batched_affine"]
    assert rows[1]["error"] == "RuntimeError: capture failed"
    assert rows[2]["speedup"] == pytest.approx(rows[2]["images_per_s"] / rows[0]["images_per_s"])
    assert "failed: RuntimeError: capture failed" in capsys.readouterr().out
    with pytest.raises(SystemExit):  # an unknown option is refused before anything is timed
        b.main(["--device", "cpu", "--variants", "off;turbo"])


def _tiny_model():
    from dflib.config import ModelConfig

    return ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=6)
