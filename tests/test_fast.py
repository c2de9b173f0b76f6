"""Fast-path options keep the maths: each is a wrapper computing the reference function with the same
parameters (batched Affine MLPs, bf16 autocast, compiled fake passes), never a change to the networks."""

from __future__ import annotations

import pytest
import torch

from dflib.fast import Autocast, BatchedAffineG, FakePathCompiled, FastOptions, affine_layers, batched_affine_params, prepare_networks, wrap_networks
from dflib.models import NetG

torch.set_num_threads(1)


def _randomised_netg(imsize=64, ngf=8, seed=0):
    torch.manual_seed(seed)
    g = NetG(ngf=ngf, z_dim=10, cond_dim=12, imsize=imsize).double()
    with torch.no_grad():  # the identity init would hide ordering mistakes in linear2
        for a in affine_layers(g):
            for m in (a.fc_gamma, a.fc_beta):
                m.linear2.weight.normal_(0, 0.1)
                m.linear2.bias.normal_(0, 0.1)
    return g


def test_batched_params_equal_each_affine():
    g = _randomised_netg()
    y = torch.randn(5, 22, dtype=torch.float64)
    params = batched_affine_params(g, y)
    layers = affine_layers(g)
    assert len(params) == len(layers) == 4 * len(g.GBlocks)
    for (gamma, beta), a in zip(params, layers):
        rg, rb = a.gamma_beta(y)
        torch.testing.assert_close(gamma, rg, rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(beta, rb, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("imsize", [32, 128])
def test_batched_forward_and_gradients_equal_reference(imsize):
    g = _randomised_netg(imsize=imsize, ngf=4)
    z, s = torch.randn(3, 10, dtype=torch.float64), torch.randn(3, 12, dtype=torch.float64)
    ref = g(z, s)
    ref_grads = torch.autograd.grad(ref.square().sum(), list(g.parameters()))
    fast_g = BatchedAffineG(g)
    assert list(fast_g.parameters()) == list(g.parameters()) and fast_g.z_dim == g.z_dim
    out = fast_g(z, s)
    torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-12)
    for a, b in zip(torch.autograd.grad(out.square().sum(), list(g.parameters())), ref_grads):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)
    assert list(g.state_dict()) == list(_randomised_netg(imsize=imsize, ngf=4).state_dict())  # keys unchanged


def test_options_default_off_and_device_defaults():
    off = FastOptions()
    assert not (off.batched_affine or off.channels_last or off.fused_adam) and off.autocast == "off"
    # "on" is exact everywhere: bf16 (approximate) is opt-in on every device
    for dev in ("cuda", "cpu"):
        assert FastOptions.for_device(dev).autocast == "off" and FastOptions.for_device(dev).exact
    assert FastOptions.for_device("cpu").channels_last and FastOptions.for_device("cuda").fused_adam
    with_bf16 = FastOptions(channels_last=True, autocast="bf16")
    assert not with_bf16.exact and with_bf16.describe() == "channels_last (exact), bf16 (approximate)"
    assert FastOptions().describe().startswith("reference")
    with pytest.raises(ValueError, match="gradient scaler"):
        FastOptions(autocast="fp16")


def test_ma_gp_under_bf16_autocast_is_accumulated_in_fp32():
    from dflib.losses import ma_gp
    from dflib.models import NetC, NetD

    torch.manual_seed(0)
    d, c = NetD(ndf=4, imsize=32), NetC(ndf=4, cond_dim=6)
    with torch.no_grad():
        for blk in d.DBlocks:
            blk.gamma.fill_(0.3)
    x = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_()
    s = torch.randn(4, 6).requires_grad_()
    ref = ma_gp(c(d(x), s), x, s)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = c(d(x), s)
        assert out.dtype == torch.bfloat16
        pen = ma_gp(out, x, s)
    assert pen.dtype == torch.float32
    assert abs(pen.item() - ref.item()) / ref.item() < 0.1  # bf16 forward, fp32 norm and power


def test_resolve_fast_modes():
    from dflib.fast import resolve_fast

    # auto = on: fixed options per kind of device, the same on every run (no timing at start-up)
    assert resolve_fast("off", "cpu") == FastOptions() and resolve_fast("auto", "cpu") == FastOptions.for_device("cpu")
    assert resolve_fast(True, "cpu") == FastOptions.for_device("cpu") and resolve_fast(False, "cuda") == FastOptions()
    assert resolve_fast("auto", "cuda") == FastOptions.for_device("cuda")
    assert resolve_fast("batched_affine, bf16", "cpu") == FastOptions(batched_affine=True, autocast="bf16")
    with pytest.raises(ValueError, match="unknown option 'turbo'"):
        resolve_fast("turbo", "cpu")
    # "on" as the start of a list adds to the device defaults
    on_cuda = resolve_fast("on, cuda_graphs, compile", "cuda")
    assert on_cuda.cuda_graphs and on_cuda.compile and on_cuda.autocast == "off" and on_cuda.cudnn_benchmark
    assert resolve_fast("on,bf16", "cuda").autocast == "bf16"
    with pytest.raises(ValueError, match="unknown option 'fp16'"):
        resolve_fast("fp16", "cpu")
    assert resolve_fast("on,compile", "cpu") == FastOptions(**{**FastOptions.for_device("cpu").to_dict(), "compile": True})
    assert not (FastOptions.for_device("cuda").compile or FastOptions.for_device("cuda").cuda_graphs)  # opt-in
    with pytest.raises(ValueError, match="cuda_graphs needs a CUDA device"):
        resolve_fast("on,cuda_graphs", "cpu")


def _tiny_step_setup(seed=0):
    from dflib.config import ModelConfig, build_models
    from dflib.step import Nets

    torch.manual_seed(seed)
    nets = Nets(*build_models(ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=6)))
    x = torch.rand(4, 3, 32, 32) * 2 - 1
    s, z = torch.randn(4, 6), torch.randn(4, 8)
    return nets, x, s, z


def test_fast_step_matches_reference_in_fp32_and_stays_close_in_bf16():
    from dflib.step import build_optimizers, train_step

    ref_nets, x, s, z = _tiny_step_setup()
    ref = train_step(ref_nets, build_optimizers(ref_nets), x, s, noise=z)
    # batched Affines + foreach Adam + channels_last in fp32: the same numbers to float tolerance
    nets, *_ = _tiny_step_setup()
    fast = FastOptions(batched_affine=True, channels_last=True)
    prepare_networks(fast, list(nets))
    opts = build_optimizers(nets, fused=True)
    out = train_step(wrap_networks(fast, *nets), opts, x.contiguous(memory_format=torch.channels_last), s, noise=z)
    for k in ref:
        torch.testing.assert_close(out[k], ref[k], rtol=1e-4, atol=1e-5)
    for a, b in zip(nets.netG.parameters(), ref_nets.netG.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # bf16 autocast: losses in fp32 and close to the reference on the first step
    nets, *_ = _tiny_step_setup()
    wrapped = wrap_networks(FastOptions(autocast="bf16"), *nets)
    assert all(isinstance(n, Autocast) for n in wrapped)
    out = train_step(wrapped, build_optimizers(nets), x, s, noise=z)
    assert all(v.dtype == torch.float32 for v in out.values())
    for k in ("errD_real", "errD_fake", "errG"):
        assert abs(out[k].item() - ref[k].item()) <= 0.05 * abs(ref[k].item()) + 0.02, k


def test_sync_state_makes_the_next_step_identical(load_bench):
    """After ``sync_state`` a second copy (other memory format) takes exactly the reference's step."""
    from dflib.config import ModelConfig
    from dflib.fast import resolve_fast

    bench = load_bench("fast_fidelity")
    cfg = ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=6)
    off = resolve_fast("off", torch.device("cpu"))
    cl = resolve_fast("channels_last", torch.device("cpu"))
    (a, oa, _), (b, ob, _) = bench._setup(cfg, off, "cpu"), bench._setup(cfg, cl, "cpu")
    from dflib.step import train_step

    g = torch.Generator().manual_seed(0)
    x, s, z = torch.rand(4, 3, 32, 32, generator=g) * 2 - 1, torch.randn(4, 6, generator=g), torch.randn(4, 8, generator=g)
    train_step(a, oa, x, s, noise=z)  # a moves ahead; b is still at the initial weights with no Adam state
    assert not torch.equal(a.netG.fc.weight, b.netG.fc.weight)
    bench.sync_state(a, oa, b, ob)
    assert all(torch.equal(p, q) for p, q in zip(a.netD.parameters(), b.netD.parameters()))
    la = train_step(a, oa, x, s, noise=z)
    lb = train_step(b, ob, x.contiguous(memory_format=torch.channels_last), s, noise=z)
    # channels_last convolutions sum in another order: the losses and weights agree to float32 rounding
    # carried through one D update (measured: errG 0.0334373 vs 0.0334404), not bit for bit
    for k in ("errD", "errG"):
        assert torch.allclose(la[k], lb[k], rtol=1e-4, atol=1e-5), (k, la[k].item(), lb[k].item())
    for p, q in zip(a.netG.parameters(), b.netG.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_fidelity_bench_forced_bf16_within_five_percent(load_bench):
    """The performance issue's criterion at a small scale: every fast (bf16) step taken from the reference's
    state gives D and G losses within 5% of the reference's, averaged per window."""
    import argparse

    bench = load_bench("fast_fidelity")
    args = argparse.Namespace(preset="shapes-32-cpu", fast="on", steps=6, window=3, batch=4, device="cpu")
    res = bench.run(args)
    assert len(res["rows"]) == 2 and len(res["free_rows"]) == 2
    assert res["worst_relative_difference"] <= 0.05, res["rows"]
    with_off = bench.run(argparse.Namespace(**{**vars(args), "fast": "off", "steps": 3}))
    assert with_off["worst_relative_difference"] == 0.0 and with_off["free_worst_relative_difference"] == 0.0


class _Counting(torch.nn.Module):
    """Wraps a module, shares its parameters and counts calls (stands in for a compiled wrapper)."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls = inner, 0

    def forward(self, *args):
        self.calls += 1
        return self.inner(*args)


def test_fake_path_wrapper_sends_only_the_real_pass_to_the_eager_module():
    """``FakePathCompiled`` runs the real-image pass (a leaf that requires grad: MA-GP differentiates it
    twice) on the eager NetD and both fake passes on the compiled one, with the reference step's numbers."""
    from dflib.step import Nets, build_optimizers, train_step

    ref_nets, x, s, z = _tiny_step_setup()
    ref = train_step(ref_nets, build_optimizers(ref_nets), x, s, noise=z)
    nets, *_ = _tiny_step_setup()
    d = FakePathCompiled(nets.netD)
    d.compiled = _Counting(nets.netD)  # stands in for torch.compile(netD): shares its parameters
    eager_calls = []
    hook = nets.netD.register_forward_hook(lambda m, inp, out: eager_calls.append(inp[0].is_leaf and inp[0].requires_grad))
    out = train_step(Nets(nets.netG, d, nets.netC), build_optimizers(nets), x, s, noise=z)
    hook.remove()
    assert d.compiled.calls == 2  # the detached fake (D step) and the fake (G step)
    assert eager_calls.count(True) == 1 and len(eager_calls) == 3  # netD's hook fires for all three
    for k in ref:
        assert torch.equal(out[k], ref[k]), k


def test_graphed_step_bookkeeping_without_capture():
    """On a CPU ``GraphedStep`` runs each call eagerly on static buffers: the same losses and weights as the
    plain step, outputs that are copies, and a shape change falls back to a direct call."""
    from dflib.fast import GraphedStep
    from dflib.fast import build_step
    from dflib.step import build_optimizers, train_step

    ref_nets, x, s, z = _tiny_step_setup()
    ref_opts = build_optimizers(ref_nets)
    nets, *_ = _tiny_step_setup()
    opts = build_optimizers(nets)
    calls = []

    def fn(images, sent, noise):
        calls.append(images)
        return train_step(nets, opts, images, sent, noise)

    step = GraphedStep(fn, warmup=2)
    g = torch.Generator().manual_seed(3)
    for i in range(3):
        xi, si, zi = x + 0.01 * i, s + 0.1 * i, torch.randn(4, 8, generator=g)
        ref = train_step(ref_nets, ref_opts, xi, si, zi)
        out = step(xi, si, zi)
        assert not step.captured and step.capture is False
        assert calls[-1] is step.static_in[0] and torch.equal(step.static_in[0], xi)
        for k in ref:
            assert torch.equal(out[k], ref[k]), (i, k)
    for a, b in zip(nets.netG.parameters(), ref_nets.netG.parameters()):
        assert torch.equal(a, b)
    step(x[:2], s[:2], z[:2])  # another batch size: called directly, buffers untouched
    assert calls[-1].shape[0] == 2 and step.static_in[0].shape[0] == 4 and step.calls == 3
    with pytest.raises(ValueError, match="warmup"):
        GraphedStep(fn, warmup=0)
    # build_step without step-level options is the plain train_step
    plain = build_step(ref_nets, ref_opts, FastOptions())
    assert not isinstance(plain, GraphedStep)


def test_compiled_fake_path_matches_the_eager_step():
    """``fast=compile`` (torch.compile of G and of NetD on fakes) gives the eager step's losses and weights."""
    from dflib.step import Nets, build_optimizers, train_step

    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    ref_nets, x, s, z = _tiny_step_setup()
    ref_opts = build_optimizers(ref_nets)
    nets, *_ = _tiny_step_setup()
    opts = build_optimizers(nets)
    compiled = Nets(torch.compile(nets.netG), FakePathCompiled(nets.netD), nets.netC)
    for _ in range(2):
        ref = train_step(ref_nets, ref_opts, x, s, noise=z)
        out = train_step(compiled, opts, x, s, noise=z)
        for k in ref:
            torch.testing.assert_close(out[k], ref[k], rtol=1e-4, atol=1e-5)
    for a, b in zip(nets.netG.parameters(), ref_nets.netG.parameters()):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert counters["stats"]["unique_graphs"] >= 2, dict(counters["stats"])  # G and NetD were really compiled
    torch._dynamo.reset()


def test_build_fast_step_gives_every_option_the_same_start():
    from dflib.config import ModelConfig
    from dflib.fast import build_fast_step

    cfg = ModelConfig(imsize=32, ngf=4, ndf=4, z_dim=8, cond_dim=6)
    ref, _, _ = build_fast_step(cfg, FastOptions(), seed=3)
    fast = FastOptions(batched_affine=True, channels_last=True)
    nets, opts, step = build_fast_step(cfg, fast, seed=3)
    assert type(nets.netG).__name__ == "NetG"  # the plain networks come back (what a checkpoint saves)
    assert nets.netD.DBlocks[0].conv_r[0].weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(ref.netD.state_dict().values(), nets.netD.state_dict().values()):
        assert torch.equal(a, b)
    x = torch.rand(2, 3, 32, 32)
    assert fast.prepare_images(x).is_contiguous(memory_format=torch.channels_last)
    assert FastOptions().prepare_images(x) is x
    out = step(fast.prepare_images(x), torch.randn(2, 6), torch.randn(2, 8))
    assert set(out) >= {"errD", "errG"} and len(opts.optimizer_D.state) > 0
