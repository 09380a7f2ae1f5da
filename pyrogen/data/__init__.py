"""Datasets: image loaders with download and sha256 checks, and toy 2-D densities.

``load(name, split)`` returns :class:`ImageData` (``x`` (N, C, H, W) float32 in [0, 1], ``y``
labels or ``None``); ``load("signals", split)`` returns :class:`SignalData` (1-D signals
``(N, 128)`` generated in code, a fixed seed per split). ``"digits"`` is embedded in
scikit-learn and needs no files. The others live under a data root (``root=``, else
``$PYROGEN_DATA``, else ``~/.cache/pyrogen``)::

    <root>/mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    <root>/fashion_mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz
    <root>/binarized_mnist/binarized_mnist.npz
    <root>/omniglot/chardata.mat

Missing files are downloaded from the canonical sources in :data:`DATASETS` (or from a mirror
laid out the same way: ``mirror=`` or ``$PYROGEN_DATA_MIRROR``, a URL or a directory), into a
temporary file that is renamed into place only after its sha256 matches. The IDX files are the
official releases, checked by their published sha256. Fixed binarized MNIST is published as
three ``.amat`` text files; they are checked by the sha256s that tensorflow-datasets publishes,
converted to the ``.npz``, and each split of the ``.npz`` is then checked by the sha256 of its
uint8 array bytes (an ``.npz`` file's own bytes depend on zip timestamps and the zlib build).
Omniglot's ``chardata.mat`` (the IWAE paper's 28x28 version) has no published sha256; it is
checked by its md5 and its git blob SHA-1.
Offline, :class:`DatasetNotFoundError` lists every missing file's full path and sha256.
"""

from pyrogen.data.collapse import collapse_gaussian, collapse_gaussian_params, template_sequences
from pyrogen.data.contamination import huber_contamination
from pyrogen.data.errors import ChecksumError, DatasetNotFoundError
from pyrogen.data.idx import read_idx
from pyrogen.data.image_data import ImageData
from pyrogen.data.load import load
from pyrogen.data.registry import DATASETS, DatasetInfo, FileSpec, list_datasets
from pyrogen.data.signal_data import SignalData
from pyrogen.data.signals import SIGNAL_KINDS, ar2_signals, periodic_signals, signal_mixture
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
    "SIGNAL_KINDS",
    "ar2_signals",
    "periodic_signals",
    "signal_mixture",
    "DATASETS",
    "TOY_2D",
    "ChecksumError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "FileSpec",
    "ImageData",
    "SignalData",
    "Sprites",
    "SpritesData",
    "checkerboard",
    "collapse_gaussian",
    "collapse_gaussian_params",
    "eight_gaussians",
    "eight_gaussians_centers",
    "huber_contamination",
    "list_datasets",
    "load",
    "load_sprites",
    "read_idx",
    "rings",
    "template_sequences",
    "toy_2d",
    "twenty_five_gaussians",
    "twenty_five_gaussians_centers",
    "two_moons",
]
