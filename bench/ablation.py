"""The paper's ablation (DF-GAN Sec. 4.3) on the bundled shapes, one command:

    python bench/ablation.py --steps 300 --seeds 3 --out results/ablation.json

Six variants (``dflib.teach.ablation.VARIANTS``) x seeds, each trained for the same number of steps on the
``shapes-32-cpu`` preset's data, batch size and learning rates and a caption cache of MiniLM x 5 (the
encoder that produced the committed ``results/ablation.json``; ``--text-encoder bow --text-scale 1`` gives
the preset's own bag of words), then
scored with ``dflib.metrics.shapes_eval.evaluate_shapes_generator`` on ``--n`` images (one attribute
classifier, evaluation seed 0, for all runs). Seeds are the outer loop, so an interrupted run still holds
whole seeds; the JSON is rewritten after every run and ``--resume`` skips the runs it already holds.
The figure (``--figure``, default next to the JSON) is ``dflib.teach.ablation.plot_ablation``.
One thread per process (the preset's ``threads=1``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MPLBACKEND", "Agg")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from dflib.runtime import cpu_model  # noqa: E402


def cpu_flags(names=("avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile")) -> list[str]:
    """Which of ``names`` /proc/cpuinfo lists (the model name alone is generic on cloud machines)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                have = set(line.split(":", 1)[1].split())
                return [n for n in names if n in have]
    except OSError:
        pass
    return []


def prefill_cache(cache, dataset, batch: int = 64) -> None:
    """Every caption of the training set into ``cache`` (a SentenceCache), encoded ``batch`` at a time."""
    caps = sorted({c for i in range(len(dataset)) for c in dataset.captions(i)} - set(cache.table))
    with torch.no_grad():
        for i in range(0, len(caps), batch):
            chunk = caps[i : i + batch]
            sent = cache.encoder.encode_batch({"caption": chunk}).sent.detach().float().cpu()
            cache.table.update(zip(chunk, sent))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--variants", default="all", help="comma-separated names of dflib.teach.ablation.VARIANTS")
    ap.add_argument("--n", type=int, default=256, help="generated images per attribute evaluation")
    ap.add_argument("--fid", type=int, default=0, help="images for FID with its real-vs-real floor (0 = off)")
    ap.add_argument("--preset", default="shapes-32-cpu")
    ap.add_argument("--out", default="results/ablation.json")
    ap.add_argument("--figure", default=None, help="default: the JSON's path with .png")
    ap.add_argument("--resume", action="store_true", help="keep the runs already in --out and skip them")
    ap.add_argument("--machine-note", default="shared 2-core machine, other jobs running; one thread")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--text-encoder", default="minilm", help="minilm (as in results/ablation.json) or bow")
    ap.add_argument("--text-scale", type=float, default=5.0, help="sentence vectors times this (5 for MiniLM)")
    ap.add_argument("--lr", type=float, default=4e-4,
                    help="learning rate of G and D (4e-4 as in results/ablation.json; make train: 8e-4)")
    ap.add_argument("--caption-cache", default=None, help="file to keep the caption vectors in between commands")
    ap.add_argument("--classifier-cache", default=None, help="file to keep the attribute classifier in")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    from dflib.config import get_preset
    from dflib.data import build_dataset
    from dflib.metrics.attributes import train_attribute_classifier
    from dflib.teach.ablation import VARIANTS, evaluate_variant, flatten_metrics, plot_ablation, run_variant, summarise_runs
    from dflib.text import SentenceCache, build_encoder

    from dflib.config import apply_overrides

    cfg = apply_overrides(get_preset(args.preset), {"text_encoder": args.text_encoder, "text_scale": args.text_scale,
                                                   "lr_g": args.lr, "lr_d": args.lr})
    names = list(VARIANTS) if args.variants == "all" else [v.strip() for v in args.variants.split(",")]
    for n in names:
        if n not in VARIANTS:
            ap.error(f"unknown variant {n!r}; choose from {list(VARIANTS)}")
    seeds = list(range(args.seeds))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig_path = Path(args.figure) if args.figure else out.with_suffix(".png")

    t_all = time.perf_counter()
    dataset = build_dataset(cfg.data.name, root=cfg.data.root, split="train", imsize=cfg.model.imsize,
                            words_num=cfg.data.words_num, seed=cfg.seed, **cfg.data.options)
    encoder = build_encoder(cfg, getattr(dataset, "vocab", None), "cpu")
    cache = SentenceCache(encoder)
    t0 = time.perf_counter()
    if args.caption_cache and Path(args.caption_cache).is_file():
        cache.table.update(torch.load(args.caption_cache))
    prefill_cache(cache, dataset)
    if args.caption_cache:
        torch.save(cache.table, args.caption_cache)
    cache_seconds = time.perf_counter() - t0
    t0 = time.perf_counter()
    opts = {"max_objects": 1, **{k: v for k, v in cfg.data.options.items() if k != "length"}}
    classifier = train_attribute_classifier({**opts, "split": "train", "imsize": cfg.model.imsize, "seed": 0},
                                            steps=400, device="cpu", seed=0, progress=False,
                                            path=args.classifier_cache)
    classifier_seconds = time.perf_counter() - t0

    runs: list[dict] = []
    if args.resume and out.is_file():
        old = json.loads(out.read_text())
        if old.get("steps") == args.steps:
            runs = [r for r in old.get("runs", []) if r["variant"] in names]
    done = {(r["variant"], r["seed"]) for r in runs}

    def write() -> None:
        total = sum(r["wall_seconds"] for r in runs)
        data = {
            "what": "DF-GAN ablation (paper Sec. 4.3, arXiv 2008.05865v4) on the bundled shapes data",
            "command": "python bench/ablation.py " + " ".join(sys.argv[1:] if argv is None else argv),
            "preset": args.preset,
            "steps": args.steps,
            "seeds": seeds,
            "batch_size": cfg.batch_size,
            "lr_g": cfg.lr_g,
            "lr_d": cfg.lr_d,
            "betas": [cfg.beta1, cfg.beta2],
            "magp_k": cfg.magp_k,
            "magp_p": cfg.magp_p,
            "model": cfg.model.to_dict(),
            "data_options": cfg.data.options,
            "text_encoder": f"{cfg.text_encoder} x {cfg.text_scale} (cached per caption)",
            "eval": {"n": args.n, "seed": 0, "truncation": cfg.truncation, "classifier_steps": 400,
                     "fid_n": args.fid},
            "machine": {"cpu": cpu_model(), "cpu_flags": cpu_flags(),
                        "cpu_note": "AMX flags mean Sapphire Rapids or later where the model name is generic",
                        "logical_cpus": os.cpu_count(), "note": args.machine_note,
                        "threads": args.threads, "torch": torch.__version__, "python": platform.python_version()},
            "chance": runs[0]["eval"]["shapes"]["chance"] if runs else None,
            "variant_order": names,
            "variants": [VARIANTS[n].to_dict() for n in names],
            "caption_cache": {"captions": len(cache.table), "seconds": round(cache_seconds, 1),
                              "note": "pre-filled with every training caption in batches of 64 (MiniLM values "
                                      "within ~1e-7 of one-at-a-time encoding), so no run pays for encoding"},
            "classifier_seconds": round(classifier_seconds, 1),
            "run_seconds_total": round(total, 1),
            "run_seconds_mean": round(total / len(runs), 1) if runs else None,
            "train_seconds_per_step_mean": (round(sum(r["train_seconds"] for r in runs)
                                                  / sum(r["steps"] for r in runs), 3) if runs else None),
            "wall_seconds_command": round(time.perf_counter() - t_all, 1),
            "runs": runs,
            "summary": summarise_runs(runs),
        }
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(data, indent=1) + "\n")
        tmp.replace(out)
        return data

    for seed in seeds:
        for name in names:
            if (name, seed) in done:
                continue
            t_run = time.perf_counter()
            run = run_variant(VARIANTS[name], cfg, dataset, cache, args.steps, seed, log_every=50)
            metrics = evaluate_variant(run, cfg, cache, classifier, n=args.n, fid_n=args.fid)
            flat = flatten_metrics(metrics)
            wall = time.perf_counter() - t_run
            runs.append({"variant": name, "seed": seed, "steps": args.steps,
                         "train_seconds": round(run.train_seconds, 1), "wall_seconds": round(wall, 1),
                         "seconds_per_step": round(run.train_seconds / args.steps, 3),
                         "metrics": flat, "final_losses": run.history[-1] if run.history else {},
                         "history": run.history, "eval": metrics})
            write()
            print(f"{name:12s} seed {seed}: {run.train_seconds:6.1f} s train, {wall:6.1f} s in all | "
                  + " ".join(f"{k}={v:.3f}" for k, v in flat.items() if not k.startswith("real_")), flush=True)
    data = write()
    plot_ablation(data, path=fig_path)
    print(f"wrote {out} and {fig_path}; {data['run_seconds_total']:.0f} s of runs, "
          f"{data['wall_seconds_command']:.0f} s for the command", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
