"""A running top-k per channel: for each channel of a layer, the k images whose activation peaks
highest, and where in the map it peaks. Memory is k x channels whatever the folder's size, and
two of them merge exactly (workers of a cluster), so the order images arrive in never matters.

Ties are broken by the image's index (the lower first), so a result is the same however the
folder was split into batches or workers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class TopK:
    """Per channel, the best ``k`` images so far, best first. Rows not yet filled hold -inf and
    image -1."""

    values: np.ndarray  # (k, C) float32: the peak activation
    images: np.ndarray  # (k, C) int64: the image's index in the scan
    positions: np.ndarray  # (k, C) int32: where it peaked, row * width + column in the map
    height: int  # the layer's map size, to turn positions into rows and columns
    width: int

    @classmethod
    def empty(cls, k: int, channels: int, height: int, width: int) -> "TopK":
        """No image seen yet."""
        return cls(np.full((k, channels), -np.inf, np.float32), np.full((k, channels), -1, np.int64),
                   np.zeros((k, channels), np.int32), height, width)

    @property
    def k(self) -> int:
        """How many images are kept per channel."""
        return self.values.shape[0]

    def add(self, values: np.ndarray, images: np.ndarray, positions: np.ndarray) -> None:
        """Take in candidates: ``values`` and ``positions`` (n, C), ``images`` (n,) or (n, C)."""
        if images.ndim == 1:
            images = np.broadcast_to(images[:, None], values.shape)
        all_values = np.concatenate([self.values, values.astype(np.float32)])
        all_images = np.concatenate([self.images, images.astype(np.int64)])
        all_positions = np.concatenate([self.positions, positions.astype(np.int32)])
        # best value first; among equal values the lower image index; an empty row (-1) last
        empty = all_images < 0
        order = np.lexsort((np.where(empty, np.iinfo(np.int64).max, all_images), -all_values), axis=0)
        keep = order[: self.k]
        self.values = np.take_along_axis(all_values, keep, 0)
        self.images = np.take_along_axis(all_images, keep, 0)
        self.positions = np.take_along_axis(all_positions, keep, 0)

    def merge(self, other: "TopK") -> None:
        """Take in another worker's top-k of the same layer (exact: the top k of the union)."""
        self.add(other.values, other.images, other.positions)

    def rows_columns(self) -> tuple[np.ndarray, np.ndarray]:
        """The peaks' positions as (row, column) arrays in the layer's map."""
        return self.positions // self.width, self.positions % self.width

    def as_arrays(self, prefix: str) -> dict[str, np.ndarray]:
        """Plain arrays for an .npz file (``prefix`` names the layer)."""
        return {f"{prefix}values": self.values, f"{prefix}images": self.images,
                f"{prefix}positions": self.positions,
                f"{prefix}map_size": np.array([self.height, self.width], np.int64)}

    @classmethod
    def from_arrays(cls, arrays, prefix: str) -> "TopK":
        """The inverse of :meth:`as_arrays`."""
        height, width = (int(v) for v in arrays[f"{prefix}map_size"])
        return cls(np.array(arrays[f"{prefix}values"], np.float32), np.array(arrays[f"{prefix}images"], np.int64),
                   np.array(arrays[f"{prefix}positions"], np.int32), height, width)


def peaks(maps: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """Each channel's peak of a batch of maps (B, C, H, W): its value and its flat position (the
    first, in row-major order, where it is reached), both (B, C) numpy arrays."""
    flat = maps.detach().flatten(2).float()
    values, positions = flat.max(dim=2)
    return values.cpu().numpy(), positions.to(torch.int32).cpu().numpy()
