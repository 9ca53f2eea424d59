"""A ``torch.utils.data.Dataset`` over one split of a store (imports torch).

Reach it as ``ogmbench.TorchDataset``; ``import ogmbench`` alone never imports torch.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from torch.utils.data import Dataset

from .store import Store, open_store, split_number

__all__ = ["TorchDataset"]


class TorchDataset(Dataset):
    """Samples of one split as tensors: ``(noisy, clean, rho)``.

    Parameters
    ----------
    store : Store or path
        An ogmbench store.
    split : {"train", "val", "test"} or None
        Which samples; ``None`` for all.
    in_memory : bool
        Load the split's maps once (fast epochs for small stores).  Otherwise each
        item is read from disk, which is what DataLoader workers should do with large
        stores; the store is reopened lazily in every worker process.

    Every shard is checked against its digest once, here; worker processes count those
    checks as made (:meth:`~ogmbench.Store.assume_checked`) rather than hash the store
    again each epoch.  Regenerating the store while a training reads it is not detected.

    Items are ``noisy`` float32 (C, H, W), ``clean`` float32 (C, H, W) in {0, 1}, and
    ``rho`` as a float32 scalar tensor.

    Examples
    --------
    >>> ds = ogmbench.TorchDataset("demo.zarr", split="train")  # doctest: +SKIP
    >>> noisy, clean, rho = ds[0]                                 # doctest: +SKIP
    """

    def __init__(self, store: Store | str | os.PathLike, split: str | int | None = "train",
                 in_memory: bool = False):
        opened = store if isinstance(store, Store) else open_store(store)
        opened.single_frames("TorchDataset").check()
        self.path = opened.path  # a Path, or a Remote URL on object storage
        self.digest = opened.attrs["digest"]
        self.split = None if split is None else split_number(split)
        self.indices = opened.indices(self.split)
        self.rho = torch.from_numpy(opened.rho[self.indices].astype(np.float32))
        self._store: Store | None = None  # opened lazily in each process
        self._cache = None
        if in_memory and len(self.indices):
            lo, hi = int(self.indices[0]), int(self.indices[-1]) + 1
            self._cache = (torch.from_numpy(opened.read("noisy", lo, hi)),
                           torch.from_numpy(opened.read("clean", lo, hi).astype(np.float32)))

    def __len__(self) -> int:
        return len(self.indices)

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_store"] = None  # zarr handles are reopened after pickling
        return state

    def __getitem__(self, item: int):
        if not -len(self) <= item < len(self):
            raise IndexError(f"index {item} out of range for {len(self)} samples")
        item %= len(self)
        if self._cache is not None:
            return self._cache[0][item], self._cache[1][item], self.rho[item]
        if self._store is None:
            self._store = open_store(self.path, checked=self.digest)  # checked when made
        index = int(self.indices[item])
        noisy = torch.from_numpy(self._store.read("noisy", index, index + 1)[0])
        clean = torch.from_numpy(self._store.read("clean", index, index + 1)[0].astype(np.float32))
        return noisy, clean, self.rho[item]
