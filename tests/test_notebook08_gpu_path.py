"""Notebook 08's GPU path, checked on the CPU.

Notebook 08 says that ``PRESET = "birds-256"`` and ``FULL_RUN = True`` turn it into the paper's CUB run on a GPU.
Without a GPU this file runs what its cells run for that preset:

* the functions the cells call (``runs.notebook_config``, ``runs.open_trainer``, ``runs.fixed_batch``,
  ``runs.train_in_chunks``, ``runs.real_pair_gradients``, resume) and the hand-written step, read from the
  notebook's own cell, on a tiny dataset in the official CUB layout with a random DAMSM text encoder (the
  networks at 64 px so that a CPU step takes about a second; everything else is ``birds-256``'s);
* the hand-written step and the fixed batch at the full 256 px size on PyTorch's ``meta`` device: a tensor
  created on the CPU by mistake meets the networks' device there and raises the same "not on the expected
  device" error that a GPU run would.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from dflib.config import ModelConfig, apply_overrides, build_models, get_preset
from dflib.data import build_dataset
from dflib.data.official import make_fixture
from dflib.step import Nets, build_optimizers, train_step
from dfcourse import runs
from dflib.text import RNNEncoder

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "08_training.ipynb"


def notebook_function(name: str):
    """A function defined in a code cell of notebook 08, compiled from the notebook's own source."""
    cells = json.loads(NOTEBOOK.read_text())["cells"]
    src = [("".join(c["source"])) for c in cells if c["cell_type"] == "code" and f"def {name}(" in "".join(c["source"])]
    assert len(src) == 1, f"notebook 08 should define {name} in exactly one code cell"
    ns = {"torch": torch}
    exec(compile(src[0].split("\n\n\n")[0], f"08_training.ipynb:{name}", "exec"), ns)
    return ns[name]


@pytest.fixture(scope="module")
def birds(tmp_path_factory):
    """A CUB-layout dataset and a random DAMSM encoder where the birds-256 preset looks for them."""
    tmp = tmp_path_factory.mktemp("birds")
    info = make_fixture(tmp / "birds", kind="cub", n_train=6, n_test=2, seed=1)
    root = info["root"]
    vocab = build_dataset("cub", root=root, split="train", imsize=64).vocab
    torch.manual_seed(0)
    enc = RNNEncoder(len(vocab), emb_dim=16, hidden=256)  # sentence vectors of birds-256's cond_dim
    (root / "DAMSMencoder").mkdir()
    torch.save(enc.state_dict(), root / "DAMSMencoder" / "text_encoder200.pth")
    return root


def birds_config(root: Path, full_run: bool):
    """birds-256 as notebook 08 builds it, pointed at the fixture and shrunk to 64 px networks for the CPU."""
    cfg = get_preset("birds-256")
    cfg = runs.notebook_config(cfg, full_run=full_run, demo_steps=3, log_every=1)
    return apply_overrides(cfg, {
        "data.root": str(root), "text_encoder_path": str(root / "DAMSMencoder" / "text_encoder200.pth"),
        "data.num_workers": 0, "batch_size": 2, "model.imsize": 64, "n_sample_rows": 2, "device": "cpu",
    })


def test_notebook_config_keeps_the_preset_and_caps_only_the_demo():
    paper = get_preset("birds-256")
    full = runs.notebook_config(paper, full_run=True, demo_steps=10)
    demo = runs.notebook_config(paper, full_run=False, demo_steps=10)
    assert full.max_steps == paper.max_steps == 0 and full.epochs == 1300 and full.time_limit_min == 0
    assert (full.lr_g, full.lr_d, full.batch_size, full.model) == (paper.lr_g, paper.lr_d, 32, paper.model)
    assert demo.max_steps == 10 and full.keep_last == demo.keep_last == 3
    assert set(runs.config_diff(paper, full)) <= {"keep_last", "progress", "tensorboard", "sample_every",
                                                  "sample_every_epochs", "save_every", "save_every_epochs"}


def test_birds_path_on_the_cpu(birds, tmp_path):
    """The cells of sections 1-4 with PRESET = "birds-256": config, trainer, the hand-written step checked
    against train_step, chunks with gradient records and timing, exact resume."""
    cfg = birds_config(birds, full_run=False)
    out = tmp_path / "nb08" / "birds-256"
    trainer = runs.open_trainer(cfg, out, resume=False)
    assert trainer.cfg.text_encoder == "damsm" and trainer.encoder.dim == 256
    assert trainer.device.type == "cpu" and trainer.total_steps() == 3

    # section 2: the hand-written step of the notebook equals train_step, on the trainer's device
    fixed = runs.fixed_batch(trainer, n=2, seed=1)
    assert all(fixed[k].device == trainer.device for k in ("x", "e", "z"))
    assert fixed["x"].shape == (2, 3, 64, 64) and fixed["e"].shape == (2, 256) and fixed["z"].shape == (2, 100)
    by_hand_step = notebook_function("by_hand_step")
    start = Nets(*(copy.deepcopy(n).double() for n in trainer.nets))
    mine, ref = copy.deepcopy(start), copy.deepcopy(start)
    inputs = (fixed["x"].double(), fixed["e"].double(), fixed["z"].double())
    l_mine = by_hand_step(*mine, *build_optimizers(mine, cfg.lr_g, cfg.lr_d, (0.0, 0.9)), *inputs)
    l_ref = train_step(ref, build_optimizers(ref, cfg.lr_g, cfg.lr_d, (0.0, 0.9)), *inputs)
    for a, b in zip(mine, ref):
        for qa, qb in zip(a.parameters(), b.parameters()):
            torch.testing.assert_close(qa, qb, rtol=1e-12, atol=1e-15)
            torch.testing.assert_close(qa.grad, qb.grad, rtol=1e-10, atol=1e-15)
    torch.testing.assert_close(l_mine["errD"].detach(), l_ref["errD"], rtol=1e-12, atol=1e-15)

    # section 3: chunks with gradient records at the fixed batch, measured time
    records = []
    timing = runs.train_in_chunks(trainer, until=trainer.total_steps(), chunk=2, after_chunk=lambda: records.append(
        runs.real_pair_gradients(trainer.nets.netD, trainer.nets.netC, fixed["x"], fixed["e"])))
    assert trainer.step == 3 and timing["steps"] == 3 and len(records) == 2 and timing["step_s"] > 0
    assert records[-1]["joint"].shape == (2,) and records[-1]["magp"] > 0
    assert "s/step" in runs.time_report(timing["step_s"], trainer.step, trainer.total_steps(), "cpu")
    grid = trainer.sample_grid()
    assert grid.shape == (2 * 8, 3, 64, 64)

    # section 4: a new trainer from the checkpoint continues exactly
    resumed = runs.open_trainer(birds_config(birds, full_run=True), out, resume=True)
    assert resumed.step == trainer.step == 3
    trainer.run(max_steps=4)
    resumed.run(max_steps=4)
    for a, b in zip(trainer.nets.netG.state_dict().values(), resumed.nets.netG.state_dict().values()):
        assert torch.equal(a, b)


def test_full_run_continues_and_demo_starts_over(birds, tmp_path):
    out = tmp_path / "run"
    t = runs.open_trainer(birds_config(birds, full_run=False), out, resume=False)
    t.run(max_steps=2)
    again = runs.open_trainer(birds_config(birds, full_run=True), out, resume=True)
    assert again.step == 2 and again.total_steps() == 1300 * again.batches.batches_per_epoch
    fresh = runs.open_trainer(birds_config(birds, full_run=False), out, resume=False)
    assert fresh.step == 0


def meta_trainer(cfg, dataset):
    """What runs.fixed_batch reads of a Trainer, with the networks on the meta device: a stand-in for a GPU."""
    meta = torch.device("meta")
    enc = RNNEncoder(len(dataset.vocab), emb_dim=16, hidden=cfg.model.cond_dim, vocab=dataset.vocab).eval()

    def sentences(batch):
        with torch.no_grad():
            return enc.encode_batch(batch).sent.to(meta)

    nets = Nets(*(n.to(meta) for n in build_models(cfg.model)))
    return SimpleNamespace(device=meta, cfg=cfg, dataset=dataset, sentences=sentences, nets=nets)


def test_no_tensor_left_on_the_cpu_at_full_size(birds):
    """On the meta device, at birds-256's 256 px and batch 32: the notebook's fixed batch and hand-written
    step, and train_step, run without a device mismatch; a noise tensor built on the CPU (the old cell)
    raises the mismatch a GPU run would."""
    cfg = get_preset("birds-256")
    assert cfg.model == ModelConfig() and cfg.model.imsize == 256
    dataset = build_dataset("cub", root=birds, split="train", imsize=256)
    dataset = torch.utils.data.Subset(dataset, [i % len(dataset) for i in range(cfg.batch_size)])
    dataset.vocab = dataset.dataset.vocab
    trainer = meta_trainer(cfg, dataset)
    fixed = runs.fixed_batch(trainer, n=cfg.batch_size)
    assert {fixed[k].device.type for k in ("x", "e", "z")} == {"meta"}
    by_hand_step = notebook_function("by_hand_step")
    opts = build_optimizers(trainer.nets, cfg.lr_g, cfg.lr_d)
    losses = by_hand_step(*trainer.nets, *opts, fixed["x"], fixed["e"], fixed["z"])
    assert losses["errD"].device.type == "meta"
    assert train_step(trainer.nets, opts, fixed["x"], fixed["e"], fixed["z"])["errG"].device.type == "meta"
    cpu_noise = torch.randn(cfg.batch_size, cfg.model.z_dim)  # what the notebook's cell used to do
    with pytest.raises(RuntimeError, match="device"):
        by_hand_step(*trainer.nets, *opts, fixed["x"], fixed["e"], cpu_noise)
    with pytest.raises(AssertionError, match="not on the training device"):
        runs.assert_on_device(trainer.device, x=fixed["x"], z=cpu_noise)


def test_real_pair_gradients_follow_the_networks(birds):
    """Inputs on the CPU and networks elsewhere: the gradients are computed on the networks' device (on meta
    the computation runs through, and only the final copy to the CPU of a data-less tensor fails)."""
    cfg = get_preset("shapes-32-cpu")
    nets = Nets(*(n.to("meta") for n in build_models(cfg.model)))
    x, e = torch.rand(2, 3, 32, 32), torch.randn(2, cfg.model.cond_dim)
    with pytest.raises(NotImplementedError, match="meta"):
        runs.real_pair_gradients(nets.netD, nets.netC, x, e)
    plain = Nets(*build_models(cfg.model))
    out = runs.real_pair_gradients(plain.netD, plain.netC, x, e)
    assert out["joint"].device.type == "cpu" and out["joint"].shape == (2,)
