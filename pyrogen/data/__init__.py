"""Datasets and data generators."""

from pyrogen.data.sprites import Sprites, SpritesData, load_sprites

__all__ = ["Sprites", "SpritesData", "load_sprites"]
