"""Items per second of a dataset's ``__getitem__`` on one core (no DataLoader workers).

    python bench/data_throughput.py                      # shapes, 64 px
    python bench/data_throughput.py --dataset emoji --imsize 64
    python bench/data_throughput.py --dataset shapes --imsize 256 --n 1000
"""

from __future__ import annotations

import argparse
import time

import torch

from dflib.data import build_dataset


def measure(name: str, imsize: int, n: int, root: str | None = None, repeats: int = 3) -> float:
    """Best-of-``repeats`` items/s of ``build_dataset(name)[i]`` for i in range(n)."""
    ds = build_dataset(name, root=root, imsize=imsize)
    n = min(n, len(ds))
    ds[0]  # warm caches (shape masks, lazy loads)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        for i in range(n):
            ds[i]
        best = max(best, n / (time.perf_counter() - t0))
    return best


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dataset", default="shapes")
    p.add_argument("--imsize", type=int, default=64)
    p.add_argument("--n", type=int, default=5000)
    p.add_argument("--root", default=None)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    build_dataset(a.dataset, root=a.root, imsize=a.imsize)
    setup = time.perf_counter() - t0
    rate = measure(a.dataset, a.imsize, a.n, a.root)
    print(f"{a.dataset} imsize={a.imsize}: {rate:,.0f} images/s on {a.threads} thread(s) (setup {setup:.2f} s)")


if __name__ == "__main__":
    main()
