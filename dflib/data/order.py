"""The order in which a run sees its data, saved and restored exactly (resume gives the same batches).

Epoch ``e`` shuffles with its own seed and splits the permutation across ranks as ``DistributedSampler``
does; each item re-seeds its own random draws (caption choice, augmentation) from (seed, epoch, position),
so a resumed run draws exactly what the uninterrupted run would have drawn.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import torch

__all__ = ["ResumableBatches"]


class _SeededItems(torch.utils.data.Dataset):
    """Item ``(index, seed)``: ``dataset[index]`` with its per-item draws re-seeded from ``seed`` first."""

    def __init__(self, dataset: torch.utils.data.Dataset) -> None:
        self.dataset = dataset

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, key: tuple[int, int]) -> dict:
        index, seed = key
        if hasattr(self.dataset, "reseed"):
            self.dataset.reseed(int(seed))
        return self.dataset[int(index)]


class ResumableBatches:
    """Epoch-wise shuffled batches whose position can be saved and restored exactly.

    Epoch ``e`` uses the permutation of ``torch.randperm(N, generator=seed + e)`` split across ``world``
    ranks like ``DistributedSampler`` (rank ``r`` takes positions ``r, r + world, ...``; ``drop_last``).
    Each item is drawn with its own seed, a function of (seed, epoch, position). ``state_dict()`` =
    ``{'epoch', 'batch', 'seed'}``; with ``num_workers > 0`` caption draws after a mid-epoch resume may
    differ (worker seeds), everything else is exact.
    """

    def __init__(
        self,
        dataset: torch.utils.data.Dataset,
        batch_size: int,
        collate_fn,
        seed: int = 0,
        rank: int = 0,
        world: int = 1,
        num_workers: int = 0,
        pin_memory: bool = False,
    ) -> None:
        n = len(dataset)  # type: ignore[arg-type]
        self.per_rank = n // world
        self.batches_per_epoch = self.per_rank // batch_size
        if self.batches_per_epoch < 1:
            raise ValueError(
                f"dataset of {n} items is too small for batch_size={batch_size} on {world} process(es): "
                "lower batch_size"
            )
        self.dataset, self.items = dataset, _SeededItems(dataset)
        self.batch_size, self.collate_fn, self.seed = batch_size, collate_fn, int(seed)
        self.rank, self.world = rank, world
        self.num_workers, self.pin_memory = num_workers, pin_memory
        self.epoch, self.batch = 0, 0

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "batch": self.batch, "seed": self.seed}

    def load_state_dict(self, state: Mapping[str, int]) -> None:
        self.epoch, self.batch, self.seed = int(state["epoch"]), int(state["batch"]), int(state["seed"])

    def _keys(self, epoch: int) -> list[list[tuple[int, int]]]:
        n = len(self.dataset)  # type: ignore[arg-type]
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(self.seed * 100_003 + epoch)).tolist()
        mine = perm[self.rank :: self.world][: self.per_rank]
        base = (self.seed * 1_000_003 + epoch * 7_919) * 1_048_576
        bs = self.batch_size
        return [[(mine[i], (base + i * self.world + self.rank) % 2**62) for i in range(b * bs, (b + 1) * bs)]
                for b in range(self.batches_per_epoch)]

    def __iter__(self) -> Iterator[dict]:
        """Endless: yields batches, advancing ``(epoch, batch)`` after each."""
        while True:
            keys = self._keys(self.epoch)[self.batch :]
            if self.num_workers > 0:
                loader = torch.utils.data.DataLoader(
                    self.items,
                    batch_sampler=keys,
                    collate_fn=self.collate_fn,
                    num_workers=self.num_workers,
                    pin_memory=self.pin_memory,
                    generator=torch.Generator().manual_seed(self.seed + self.epoch),
                    persistent_workers=False,
                )
                source: Any = iter(loader)
            else:
                source = (self.collate_fn([self.items[k] for k in ks]) for ks in keys)
            for batch in source:
                self.batch += 1
                yield batch
            self.epoch, self.batch = self.epoch + 1, 0
