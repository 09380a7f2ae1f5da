"""Datasets: image loaders with download and sha256 checks, and toy 2-D densities."""

from pyrogen.data.errors import ChecksumError, DatasetNotFoundError
from pyrogen.data.idx import read_idx
from pyrogen.data.image_data import ImageData
from pyrogen.data.load import load
from pyrogen.data.registry import DATASETS, DatasetInfo, FileSpec, list_datasets
from pyrogen.data.sprites import Sprites, SpritesData, load_sprites
from pyrogen.data.toy2d import (
    TOY_2D,
    checkerboard,
    eight_gaussians,
    eight_gaussians_centers,
    rings,
    toy_2d,
    twenty_five_gaussians,
    twenty_five_gaussians_centers,
    two_moons,
)

__all__ = [
    "DATASETS",
    "TOY_2D",
    "ChecksumError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "FileSpec",
    "ImageData",
    "Sprites",
    "SpritesData",
    "checkerboard",
    "eight_gaussians",
    "eight_gaussians_centers",
    "list_datasets",
    "load",
    "load_sprites",
    "read_idx",
    "rings",
    "toy_2d",
    "twenty_five_gaussians",
    "twenty_five_gaussians_centers",
    "two_moons",
]
