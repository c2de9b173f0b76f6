"""Configuration dataclasses and named presets.

``ModelConfig`` describes the three networks; the training configuration (``TrainConfig``) and its presets
(``shapes-32-cpu``, ``emoji-64``, ``birds-256``, ``coco-256``) live in this module too.
"""

from __future__ import annotations

import copy
import difflib
import math
import types
import typing
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from typing import Any

from .losses import PENALTIES
from .models import FUSIONS, NetC, NetD, NetG

__all__ = [
    "ModelConfig",
    "MODEL_PRESETS",
    "build_models",
    "DataConfig",
    "TrainConfig",
    "TRAIN_PRESETS",
    "get_preset",
    "apply_overrides",
    "config_from_dict",
    "RESUME_FIELDS",
    "config_for_resume",
    "validate_config",
]


@dataclass
class ModelConfig:
    """Sizes of NetG / NetD / NetC. Paper defaults (CUB, COCO): 256 px, nf 32, z 100, DAMSM 256-d."""

    imsize: int = 256
    ngf: int = 32
    ndf: int = 32
    z_dim: int = 100
    cond_dim: int = 256
    ch_size: int = 3
    fusion: str = "dfblock"  # how text enters G: "dfblock" (DF-GAN) | "affine" | "concat" (ablation, Sec. 4.3)

    def to_dict(self) -> dict:
        return asdict(self)


def build_models(cfg: ModelConfig):
    """Fresh ``(netG, netD, netC)`` for a model configuration. D and C are drawn first, so that for one seed
    every generator variant (``fusion``) faces the same initial discriminator."""
    netD = NetD(cfg.ndf, cfg.imsize, cfg.ch_size)
    netC = NetC(cfg.ndf, cfg.cond_dim)
    netG = NetG(cfg.ngf, cfg.z_dim, cfg.cond_dim, cfg.imsize, cfg.ch_size, fusion=cfg.fusion)
    return netG, netD, netC


# --------------------------------------------------------------------------------------------------
# Training configuration (paper Sec. 4 "implementation details"; docs/official_behaviour.md)
# --------------------------------------------------------------------------------------------------


@dataclass
class DataConfig:
    """Which dataset to train on (``dflib.data.build_dataset``) and how to load it.

    ``options`` go to the dataset class as keyword arguments (e.g. ``{'max_objects': 1}`` for shapes).
    """

    name: str = "shapes"
    root: str | None = None
    words_num: int = 18
    num_workers: int = 0
    options: dict = field(default_factory=dict)


@dataclass
class TrainConfig:
    """Everything a training run needs; presets in ``TRAIN_PRESETS``, any field overridable.

    Paper settings (paper Sec. 4; docs/official_behaviour.md): Adam(0, 0.9), lr G 1e-4, lr D+C 4e-4, batch 32 per GPU,
    MA-GP k=2 p=6 every step, no EMA / AMP / schedule; 1300 epochs (CUB) or 300 (COCO), as the official
    loop runs epochs 1 ... max_epoch - 1. ``max_steps`` (if > 0) stops earlier than ``epochs``.
    Intervals: ``*_every`` count optimisation steps; ``*_every_epochs`` (if > 0) count epochs instead, so
    that the number of GPUs does not change them (the paper presets save every 10 / 5 epochs and keep all).
    ``text_encoder``: 'damsm' (``text_encoder_path`` = text_encoder*.pth, needs a vocabulary),
    'minilm' (offline all-MiniLM-L6-v2, cond_dim 384) or 'bow' (fixed random word vectors, summed and divided by
    sqrt(n): no meaning, but every word its own direction; the shapes-32-cpu preset).
    """

    preset: str = "shapes-32-cpu"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    text_encoder: str = "damsm"
    text_encoder_path: str | None = None
    text_scale: float = 1.0  # sentence vectors are multiplied by this (see dflib.text.ScaledTextEncoder)
    text_cache: bool = False  # cache sentence vectors per caption (deterministic encoders only)
    batch_size: int = 32
    epochs: int = 1301
    max_steps: int = 0  # stop after this many optimisation steps (0 = run all epochs)
    time_limit_min: float = 0.0  # also stop (and save) after this many minutes; 0 = no limit
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    beta1: float = 0.0
    beta2: float = 0.9
    magp_k: float = 2.0
    magp_p: float = 6.0
    penalty: str = "magp"  # "magp" (Eq. 2) | "zero_gp" (image gradient only) | "none": the ablation's variants
    mismatch: bool = True  # mismatched pairs in L_D (Eq. 1); False = the unconditional real + fake
    log_grad_norms: bool = False  # also log ||grad_x D|| and ||grad_e D|| at real pairs every log_every steps
    fast: str = "auto"  # off (reference) | on (exact options) | auto (= on) | a list, e.g. on,bf16
    ema: bool = False
    ema_decay: float = 0.999
    seed: int = 100
    device: str | None = None
    threads: int = 0  # torch CPU threads for the CLI (0 = all physical cores: the same on every run)
    out_dir: str = "runs"
    log_every: int = 50
    sample_every: int = 1000
    save_every: int = 2000
    sample_every_epochs: int = 0  # > 0: a sample grid after every N-th epoch (instead of sample_every)
    save_every_epochs: int = 0  # > 0: a checkpoint after every N-th epoch (instead of save_every)
    keep_last: int = 3  # checkpoints kept (0 = all)
    n_sample_rows: int = 8
    truncation: float = 0.88
    eval_samples: int = 0  # images per attribute-accuracy evaluation at the end (shapes only; 0 = off)
    eval_fid: int = 0  # images for the final FID against the real test split, with its floor (0 = off)
    tensorboard: bool = True
    progress: bool = True

    def to_dict(self) -> dict:
        return asdict(self)


TRAIN_PRESETS: dict[str, TrainConfig] = {
    # `make train`: the bundled procedural shapes at 32 px on a CPU, stopping after a fixed number of steps
    # (4,000; timings in results/make_train_metrics*.json; the same seed, threads and machine give the same weights).
    # Not the paper's settings, chosen so a CPU budget learns something (how: docs/experiments.md):
    # lr 8e-4 for G and 3.2e-3 for D (8x the paper's, in its 1:4 ratio), batch 16, and a fixed
    # bag-of-words text encoder (MiniLM hardly separates "left" from "right") scaled by 0.3 so the sentence
    # is about as long as the noise. One object whose position and size captions state or leave open.
    "shapes-32-cpu": TrainConfig(
        preset="shapes-32-cpu",
        model=ModelConfig(imsize=32, ngf=16, ndf=16, z_dim=32, cond_dim=384),
        data=DataConfig(name="shapes", options={
            "max_objects": 1, "length": 2000, "captions_per_image": 4, "layout": "spread",
            "positions": ["left", "center", "right"], "object_scale": 1.75, "size": None, "background": "gray",
            "jitter": 0, "state_size": 0.5, "state_position": 0.5,
        }),
        text_encoder="bow",
        text_scale=0.3,
        text_cache=True,
        batch_size=16,
        epochs=10**6,
        max_steps=4000,
        lr_g=8e-4,
        lr_d=3.2e-3,
        seed=0,
        device="cpu",
        log_every=50,
        sample_every=500,
        save_every=1000,
        eval_samples=512,
        eval_fid=100,
    ),
    # The bundled Twemoji art (CC-BY 4.0) at 32 px on a CPU: real drawn pictures with captions a bag of words
    # can follow (names, colours, skin tones stated or left open: dflib.data.emoji). The make-train learning
    # rates, a bag-of-words encoder scaled so the sentence is about as long as the noise (0.35 x sqrt(256)
    # = 5.6 against sqrt(32) = 5.7), an EMA of G for sampling; it stops on steps and resumes exactly.
    "emoji-32": TrainConfig(
        preset="emoji-32",
        model=ModelConfig(imsize=32, ngf=24, ndf=16, z_dim=32, cond_dim=256),
        data=DataConfig(name="emoji"),
        text_encoder="bow",
        text_scale=0.35,
        text_cache=True,
        batch_size=16,
        epochs=10**6,
        max_steps=30000,
        lr_g=8e-4,
        lr_d=3.2e-3,
        ema=True,
        seed=0,
        device="cpu",
        log_every=100,
        sample_every=1000,
        save_every=500,
        keep_last=2,
        eval_samples=512,
        eval_fid=300,
    ),
    "emoji-64": TrainConfig(
        preset="emoji-64",
        model=ModelConfig(imsize=64, ngf=32, ndf=32, z_dim=100, cond_dim=384),
        data=DataConfig(name="emoji", num_workers=2),
        text_encoder="minilm",
        text_cache=True,
        batch_size=32,
        epochs=601,
        log_every=50,
        sample_every=1000,
        save_every=2000,
    ),
    "birds-256": TrainConfig(
        preset="birds-256",
        model=ModelConfig(),
        data=DataConfig(name="cub", root="data/birds", num_workers=4),
        text_encoder="damsm",
        text_encoder_path="data/birds/DAMSMencoder/text_encoder200.pth",
        epochs=1300,
        seed=100,
        log_every=100,
        sample_every_epochs=1,
        save_every_epochs=10,
        keep_last=0,
    ),
    "coco-256": TrainConfig(
        preset="coco-256",
        model=ModelConfig(),
        data=DataConfig(name="coco", root="data/coco", num_workers=4),
        text_encoder="damsm",
        text_encoder_path="data/coco/DAMSMencoder/text_encoder100.pth",
        epochs=300,
        seed=100,
        log_every=100,
        sample_every_epochs=1,
        save_every_epochs=5,
        keep_last=0,
    ),
}


def get_preset(name: str) -> TrainConfig:
    """A fresh copy of the named training preset."""
    if name not in TRAIN_PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {sorted(TRAIN_PRESETS)}")
    return copy.deepcopy(TRAIN_PRESETS[name])


def _kinds(hint: Any) -> tuple:
    """The types a setting's annotation allows: ``int | None`` -> ``(int, NoneType)``, ``int`` -> ``(int,)``."""
    return typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)


def _parse_value(text: str, key: str = "", hint: Any = None) -> Any:
    """A ``--set`` value read as YAML (``8`` -> int, ``1e-4`` -> float, ``null`` -> None, ``[1,2]`` -> list),
    except for a text setting (``hint`` str), which keeps the text as typed: ``fast=off`` stays 'off' and
    ``data.root=2024`` stays '2024' (``null`` still clears an optional one). Unreadable YAML is a
    ``ValueError`` naming the setting."""
    import yaml

    if text == "":
        return ""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = str(getattr(exc, "problem", "") or exc).splitlines()[0]
        raise ValueError(f"{key or 'setting'}={text!r} cannot be read: {problem} (values are YAML, e.g. "
                         "8, 2e-4, true, null, [a, b], {max_objects: 1})") from None
    kinds = _kinds(hint)
    if str in kinds and not isinstance(value, str) and not (value is None and type(None) in kinds):
        return text
    return value


def apply_overrides(cfg: TrainConfig, overrides: list[str] | dict[str, Any]) -> TrainConfig:
    """Set fields by dotted path: ``['batch_size=8', 'model.ngf=32', 'data.options.max_objects=2']``.

    Text values are read as YAML (:func:`_parse_value`), then checked against the field's type
    (:func:`_coerce`). Returns a modified deep copy; an unknown name or a value of the wrong type raises a
    one-line ``ValueError`` naming the setting, the value and what is allowed.
    """
    cfg = copy.deepcopy(cfg)
    from_text = not isinstance(overrides, dict)
    items = [_split(o) for o in overrides] if from_text else list(overrides.items())
    for key, value in items:
        parts = key.split(".")
        if parts[0] == "train" and len(parts) > 1:  # allow 'train.batch_size'
            parts = parts[1:]
        obj: Any = cfg
        for i, name in enumerate(parts):
            last = i == len(parts) - 1
            if is_dataclass(obj):
                names = [f.name for f in fields(obj)]
                if name not in names:
                    close = difflib.get_close_matches(name, names, n=1)
                    hint = f" (did you mean {'.'.join(parts[:i] + close)!r}?)" if close else ""
                    raise ValueError(f"unknown setting {key!r}{hint}: {type(obj).__name__} has {names}")
                if last:
                    hint_type = typing.get_type_hints(type(obj)).get(name)
                    if from_text and isinstance(value, str):
                        value = _parse_value(value, key, hint_type)
                    setattr(obj, name, _coerce(getattr(obj, name), value, key, hint_type))
                else:
                    obj = getattr(obj, name)
            elif isinstance(obj, dict):
                if last:
                    obj[name] = _parse_value(value, key) if from_text and isinstance(value, str) else value
                else:
                    obj = obj.setdefault(name, {})
            else:
                raise ValueError(f"cannot set {key!r}: {'.'.join(parts[:i])} is {obj!r}, not a section of settings")
    return cfg


def _coerce(old: Any, value: Any, key: str, hint: Any = None) -> Any:
    """``value`` as the type of setting ``key`` (its annotation ``hint``, else the type of ``old``), or a
    one-line ``ValueError`` naming the setting, the value and what is allowed.

    Whole numbers stay whole (``8.7`` or ``true`` is refused for ``batch_size``; ``8.0`` becomes 8), text
    such as ``'2e-4'`` becomes 0.0002 for a number setting, a flag takes true or false, a section
    (``model``) takes a mapping of its own fields, ``None`` only where the setting is optional."""
    if is_dataclass(old) and not isinstance(old, type):  # a section: set its fields
        if isinstance(value, dict):
            return apply_overrides(old, value)
        raise ValueError(f"{key}={value!r} is not allowed: {key} is a section of settings; set its fields, "
                         f"e.g. {key}.{fields(old)[0].name}=...")
    kinds = _kinds(hint if hint is not None else type(old))
    optional = type(None) in kinds
    kind = next((k for k in kinds if k is not type(None)), None)
    words = {int: "a number, and a whole one (e.g. 8)", float: "a number (e.g. 0.0002)", bool: "true or false",
             str: "text", dict: "a mapping of names to values (e.g. {max_objects: 1})"}
    need = words.get(kind, getattr(kind, "__name__", str(kind))) + (" or null" if optional else "")
    refuse = ValueError(f"{key}={value!r} is not allowed: {key} needs {need}")
    if value is None:
        if optional or kind is None or old is None and hint is None:
            return None
        raise refuse
    if kind is bool:
        if isinstance(value, bool):
            return value
        flags = {"true": True, "yes": True, "on": True, "false": False, "no": False, "off": False}
        if isinstance(value, str) and value.strip().lower() in flags:
            return flags[value.strip().lower()]
        raise refuse
    if kind in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise refuse
        try:
            if isinstance(value, str):
                value = int(value) if value.strip().lstrip("+-").isdigit() else float(value)
        except ValueError:
            raise refuse from None
        if kind is float:
            return float(value)
        if isinstance(value, float) and not value.is_integer():  # 8.7, nan and inf are not whole
            raise refuse
        return int(value)
    if kind is str and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return str(value)  # a number typed for a text setting is its text
    if kind is dict and isinstance(value, dict):
        return dict(value)
    if kind in (str, dict):
        raise refuse
    return value


def _split(item: str) -> tuple[str, str]:
    if not isinstance(item, str) or "=" not in item:
        raise ValueError(f"override {item!r} must look like name=value, e.g. batch_size=8 or model.ngf=32")
    k, v = item.split("=", 1)
    if not k.strip():
        raise ValueError(f"override {item!r} has no setting name before '=': e.g. batch_size=8")
    return k.strip(), v.strip()


# Fields that say where a run stops, how it reports and which checkpoints it keeps, not what it computes:
# a resumed run takes these from the command line; every other field comes from the checkpoint.
RESUME_FIELDS = ("epochs", "max_steps", "time_limit_min", "progress", "tensorboard", "device", "log_every",
                 "eval_samples", "eval_fid", "save_every", "keep_last")


def config_for_resume(saved: TrainConfig, requested: TrainConfig) -> TrainConfig:
    """The configuration of a resumed run: ``saved`` (from the checkpoint) with :data:`RESUME_FIELDS`
    taken from ``requested``."""
    out = copy.deepcopy(saved)
    for name in RESUME_FIELDS:
        setattr(out, name, copy.deepcopy(getattr(requested, name)))
    return out


def validate_config(cfg: TrainConfig) -> TrainConfig:
    """Raise a one-line ``ValueError`` naming the first setting that cannot work, its value and what is
    allowed; returns ``cfg``. The one check of a training configuration, for every command line and the
    Python API (``Trainer``): each field must have its declared type (whole numbers whole, flags true or
    false), numbers must be finite and in range, ``text_encoder`` and ``model.imsize`` one of their
    choices, and ``device`` a device this machine has. Dataset option names are checked by the data layer
    (:func:`dflib.data.options.check_dataset_options`), which knows the dataset classes."""
    from .models import SUPPORTED_SIZES

    whole = {  # whole numbers: the smallest allowed value and what 0 means where 0 is allowed
        "batch_size": 1, "epochs": 1, "log_every": 1, "n_sample_rows": 1, "max_steps": 0, "sample_every": 0,
        "save_every": 0, "sample_every_epochs": 0, "save_every_epochs": 0, "keep_last": 0, "eval_samples": 0,
        "eval_fid": 0, "threads": 0, "seed": 0, "model.ngf": 1, "model.ndf": 1, "model.z_dim": 1,
        "model.cond_dim": 1, "model.ch_size": 1, "data.words_num": 1, "data.num_workers": 0,
    }
    real = {  # finite numbers: (lowest, highest or None, lowest allowed itself); the highest never is
        "lr_g": (0.0, None, False), "lr_d": (0.0, None, False), "magp_p": (0.0, None, False),
        "text_scale": (0.0, None, False), "truncation": (0.0, None, False), "time_limit_min": (0.0, None, True),
        "magp_k": (0.0, None, True), "beta1": (0.0, 1.0, True), "beta2": (0.0, 1.0, True),
        "ema_decay": (0.0, 1.0, False),
    }
    kinds = {int: (int,), float: (int, float), bool: (bool,), str: (str,), dict: (dict,)}

    def fail(key: str, value: Any, allowed: str) -> ValueError:
        example = f", e.g. --set {key}={defaults[key]}" if defaults.get(key) not in (None, value) else ""
        return ValueError(f"{key}={value!r} must be {allowed}{example}")

    def range_words(low: float, high: float | None, low_in: bool) -> str:
        if high is None:
            return "positive (a finite number > 0)" if not low_in else f"a finite number >= {low:g} (0 switches it off)"
        return f"a number in {'[' if low_in else '('}{low:g}, {high:g})"

    def leaves(obj: Any, prefix: str = "") -> list[tuple[str, Any, Any]]:
        hints = typing.get_type_hints(type(obj))
        out: list[tuple[str, Any, Any]] = []
        for f in fields(obj):
            value = getattr(obj, f.name)
            out += leaves(value, f"{prefix}{f.name}.") if is_dataclass(value) else [(prefix + f.name, value, hints.get(f.name))]
        return out

    def device_problem(spec: str) -> str | None:
        import torch

        try:
            dev = torch.device(spec)
        except (RuntimeError, ValueError, TypeError):
            return "is not a device: use cpu, cuda, cuda:N or mps"
        if dev.type == "cuda" and not torch.cuda.is_available():
            return "cannot be used: no CUDA GPU is visible on this machine; use cpu"
        if dev.type == "cuda" and dev.index is not None and dev.index >= torch.cuda.device_count():
            return f"cannot be used: this machine has {torch.cuda.device_count()} CUDA GPU(s), cuda:0 to cuda:{torch.cuda.device_count() - 1}"
        if dev.type == "mps" and not torch.backends.mps.is_available():
            return "cannot be used: no Apple GPU (MPS) here; use cpu"
        if dev.type not in ("cpu", "cuda", "mps"):
            return f"is not supported: dflib runs on cpu, cuda, cuda:N or mps, not {dev.type}"
        return None

    defaults = {k: v for k, v, _ in leaves(TrainConfig())}
    for key, value, hint in leaves(cfg):
        allowed = [k for k in _kinds(hint) if k is not None]
        if value is None and type(None) in allowed:
            continue
        simple = [k for k in allowed if k in kinds]
        if simple and not any(isinstance(value, kinds[k]) and not (isinstance(value, bool) and k is not bool) for k in simple):
            names = {int: "a whole number", float: "a number", bool: "true or false", str: "text", dict: "a mapping"}
            raise fail(key, value, " or ".join(names[k] for k in simple) + (" or null" if type(None) in allowed else ""))
        if key in whole:
            low = whole[key]
            if value < low or (key == "seed" and value >= 2**32):
                what = {1: "positive (a whole number >= 1)", 0: "a whole number >= 0 (0 switches it off)"}[low]
                what = {"threads": "a whole number >= 0 (0 = all physical cores)",
                        "seed": "a whole number from 0 to 4294967295"}.get(key, what)
                raise fail(key, value, what)
        if key in real:
            low, high, low_in = real[key]
            above = value >= low if low_in else value > low
            if not (math.isfinite(value) and above and (high is None or value < high)):
                raise fail(key, value, range_words(low, high, low_in))
    if cfg.model.imsize not in SUPPORTED_SIZES:
        raise fail("model.imsize", cfg.model.imsize, f"one of {', '.join(map(str, SUPPORTED_SIZES))}")
    encoders = ("damsm", "minilm", "bow")
    if cfg.text_encoder.lower() not in encoders:
        close = difflib.get_close_matches(cfg.text_encoder.lower(), encoders, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise fail("text_encoder", cfg.text_encoder, f"one of {', '.join(encoders)}{hint}")
    for key, value, choices in (("penalty", cfg.penalty, PENALTIES), ("model.fusion", cfg.model.fusion, tuple(FUSIONS))):
        if value not in choices:  # the ablation's variants (paper Sec. 4.3)
            raise fail(key, value, f"one of {', '.join(choices)}")
    problem = device_problem(cfg.device) if cfg.device is not None else None
    if problem:
        raise ValueError(f"device={cfg.device!r} {problem}")
    return cfg


def config_from_dict(d: dict) -> TrainConfig:
    """Inverse of ``TrainConfig.to_dict`` (resuming, sampling). Every value is checked as a ``--set``
    value is (:func:`_coerce`), so a saved configuration of the wrong shape is refused in one line instead
    of failing later; top-level names this version does not know are dropped (files of older versions),
    unknown names inside ``model`` or ``data`` are refused."""
    if not isinstance(d, dict):
        raise ValueError(f"a saved configuration must be a mapping of settings, got {type(d).__name__}")
    known = {f.name for f in fields(TrainConfig)}
    return apply_overrides(TrainConfig(), {k: copy.deepcopy(v) for k, v in d.items() if k in known})


# The network sizes of each training preset (one source of truth: TRAIN_PRESETS).
MODEL_PRESETS: dict[str, ModelConfig] = {name: copy.deepcopy(cfg.model) for name, cfg in TRAIN_PRESETS.items()}
