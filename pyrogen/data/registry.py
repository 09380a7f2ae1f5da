"""Registry of the datasets: shapes, splits, files, sha256 sums and canonical sources.

Images are read from files; the ``"signals"`` set of 1-D signals is generated in code.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyrogen.data.signal_data import SIGNAL_LENGTH


@dataclass(frozen=True)
class FileSpec:
    """One file of a dataset: its name under ``<root>/<dataset>/``, checksums and size in bytes.

    Files are checked by sha256 where the source publishes one. A file whose sha256 is not
    published (``sha256=""``) is checked by the digests that are known instead: ``md5`` and
    ``git_sha1``, the SHA-1 of the file as a git blob (``sha1(b"blob <size>\\0" + bytes)``,
    what ``git hash-object`` prints), and ``size`` is ``None`` when it is not published
    either. Every file has at least one digest.
    """

    name: str
    sha256: str
    size: int | None
    md5: str = ""
    git_sha1: str = ""

    def __post_init__(self) -> None:
        if not self.digests():
            raise ValueError(f"file {self.name!r} needs a sha256, md5 or git_sha1; got none")

    def digests(self) -> dict[str, str]:
        """The published digests, by algorithm name (``"sha256"``, ``"md5"``, ``"git_sha1"``)."""
        every = {"sha256": self.sha256, "md5": self.md5, "git_sha1": self.git_sha1}
        return {algo: value for algo, value in every.items() if value}

    def describe(self) -> str:
        """Its checksums and size as error messages print them."""
        if self.sha256 and self.size is not None:
            return f"sha256 {self.sha256}  ({self.size:,} bytes)"
        sums = ", ".join(f"{DIGEST_NAMES[a]} {v}" for a, v in self.digests().items())
        missing = ["sha256"] if not self.sha256 else []
        missing += ["size"] if self.size is None else []
        return f"{sums}  ({' and '.join(missing)} not published)"


# how messages name each digest
DIGEST_NAMES = {"sha256": "sha256", "md5": "md5", "git_sha1": "git blob SHA-1"}


@dataclass(frozen=True)
class DatasetInfo:
    """Metadata of one dataset.

    Attributes:
        name: registry key, also the directory name under the data root.
        description: one line.
        shape: ``(C, H, W)`` of one image, or ``(T,)`` of one 1-D signal.
        splits: split name -> number of examples.
        num_classes: number of label classes, or ``None`` when the dataset has no labels.
        files: split name -> the files under ``<root>/<name>/`` that the split is read from.
        urls: base URLs of the canonical source, tried in order (``url + file name``).
        downloads: the files fetched from ``urls``. For every dataset but ``binarized_mnist``
            these are the stored files themselves; ``binarized_mnist`` downloads the
            Larochelle ``.amat`` text files and converts them to one ``.npz``.
        content_sha256: split name -> sha256 of the split's array bytes (uint8, C order), for
            files whose bytes are not reproducible (a converted ``.npz``); empty otherwise.
        reference: where the data comes from.
        license: the license stated by the source.
    """

    name: str
    description: str
    shape: tuple[int, ...]
    splits: dict[str, int]
    num_classes: int | None
    files: dict[str, tuple[FileSpec, ...]] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    downloads: tuple[FileSpec, ...] = ()
    content_sha256: dict[str, str] = field(default_factory=dict)
    reference: str = ""
    license: str = ""


def _idx_files(sums: dict[str, tuple[str, int]]) -> dict[str, tuple[FileSpec, ...]]:
    # MNIST and Fashion-MNIST share the file naming: <prefix>-{images-idx3,labels-idx1}-ubyte.gz
    specs = {name: FileSpec(name, sha, size) for name, (sha, size) in sums.items()}
    return {
        split: (
            specs[f"{prefix}-images-idx3-ubyte.gz"],
            specs[f"{prefix}-labels-idx1-ubyte.gz"],
        )
        for split, prefix in (("train", "train"), ("test", "t10k"))
    }


_MNIST = _idx_files(
    {
        "train-images-idx3-ubyte.gz": (
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9912422,
        ),
        "train-labels-idx1-ubyte.gz": (
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28881,
        ),
        "t10k-images-idx3-ubyte.gz": (
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1648877,
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4542,
        ),
    }
)

_FASHION = _idx_files(
    {
        "train-images-idx3-ubyte.gz": (
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26421880,
        ),
        "train-labels-idx1-ubyte.gz": (
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29515,
        ),
        "t10k-images-idx3-ubyte.gz": (
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4422102,
        ),
        "t10k-labels-idx1-ubyte.gz": (
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5148,
        ),
    }
)

# The fixed binarization is defined by its arrays, not by the bytes of an .npz (zip timestamps
# and the zlib build change those), so a converted download is checked by the sha256 of each
# split's uint8 bytes in C order. The file sum is that of the copy distributed with pyrogen's
# offline data, accepted as is; its arrays give exactly the .amat files' published sha256s.
_BMNIST_NPZ = FileSpec(
    "binarized_mnist.npz",
    "7a049ae3a0d88e964af4b41bbdb14e4303595e1c5de65f8bd2455cdcebb3514b",
    3785508,
)

# Omniglot resized to 28x28 for the IWAE paper: one MATLAB file, stored in git as
# yburda/iwae:datasets/OMNIGLOT/chardata.mat (the same blob is mingzhang-yin/ARM-gradient's
# omniglot.mat). No sha256 or size of it is published; it is identified by its commonly quoted
# md5 and by its git blob SHA-1 in those repositories.
_OMNIGLOT_MAT = FileSpec(
    "chardata.mat",
    sha256="",
    size=None,
    md5="21ecaf34373511aa7691cf2e0802aa3d",
    git_sha1="016a3536ffe5e1d38e42563a18d7a78bfaf643ec",
)

DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(
        name="digits",
        description="scikit-learn's embedded 8x8 handwritten digits (UCI optdigits test set), "
        "values 0..16 scaled to [0, 1]; fixed split: 1500 train / 297 test",
        shape=(1, 8, 8),
        splits={"train": 1500, "test": 297},
        num_classes=10,
        reference="sklearn.datasets.load_digits; E. Alpaydin, C. Kaynak, Optical Recognition of "
        "Handwritten Digits, UCI Machine Learning Repository, 1998",
        license="CC BY 4.0 (UCI)",
    ),
    "mnist": DatasetInfo(
        name="mnist",
        description="MNIST handwritten digits, 28x28 grey levels scaled to [0, 1]",
        shape=(1, 28, 28),
        splits={"train": 60000, "test": 10000},
        num_classes=10,
        files=_MNIST,
        # The original site (yann.lecun.com) often refuses downloads, so the byte-identical
        # mirrors used by torchvision and tensorflow-datasets come first.
        urls=(
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
            "http://yann.lecun.com/exdb/mnist/",
        ),
        downloads=tuple(dict.fromkeys(s for split in _MNIST.values() for s in split)),
        reference="Gradient-based learning applied to document recognition, Y. LeCun, L. Bottou, "
        "Y. Bengio, P. Haffner, 1998; http://yann.lecun.com/exdb/mnist/",
        license="CC BY-SA 3.0 (as commonly listed; the source page states none)",
    ),
    "fashion_mnist": DatasetInfo(
        name="fashion_mnist",
        description="Fashion-MNIST (Zalando article images), 28x28 grey levels scaled to [0, 1]",
        shape=(1, 28, 28),
        splits={"train": 60000, "test": 10000},
        num_classes=10,
        files=_FASHION,
        urls=(
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
        ),
        downloads=tuple(dict.fromkeys(s for split in _FASHION.values() for s in split)),
        reference="Fashion-MNIST: a Novel Image Dataset for Benchmarking Machine Learning "
        "Algorithms, H. Xiao, K. Rasul, R. Vollgraf, 2017, https://arxiv.org/abs/1708.07747",
        license="MIT",
    ),
    "binarized_mnist": DatasetInfo(
        name="binarized_mnist",
        description="MNIST with the fixed stochastic binarization of Larochelle & Murray (2011), "
        "as used by the IWAE paper; no labels; the test split is sorted by digit",
        shape=(1, 28, 28),
        splits={"train": 50000, "valid": 10000, "test": 10000},
        num_classes=None,
        files={split: (_BMNIST_NPZ,) for split in ("train", "valid", "test")},
        urls=("http://www.cs.toronto.edu/~larocheh/public/datasets/binarized_mnist/",),
        # sha256 and sizes of the original text files as published by tensorflow-datasets
        # (url_checksums/binarized_mnist.txt); the staged arrays reproduce them exactly.
        downloads=(
            FileSpec(
                "binarized_mnist_train.amat",
                "ad693b29f94c14277b095f5238ddefbbdaaae0939789dd2f4f0205278cee3e4d",
                78400000,
            ),
            FileSpec(
                "binarized_mnist_valid.amat",
                "1de3d397c40fe8eeb33dafd4099a1f665ec01e96d9be234aaeeac8a34930e2e2",
                15680000,
            ),
            FileSpec(
                "binarized_mnist_test.amat",
                "e6687bfea3f820c174f33b7865140b2a2dd2930ef786f35d45795fc193b5ab2c",
                15680000,
            ),
        ),
        content_sha256={
            "train": "43490d4d6ac9002727af4426d8748609fdb7e4094fa65ad8d681ea60082a7a5a",
            "valid": "069b4f0beb389b776478c3e872b4df71c95ac4be64d7cbe6d32e24ebac8e6d5e",
            "test": "ca0294c3b8d984c7a1dc891015a8eea6f37bae59a34e35ea0fc8c47110a8dd86",
        },
        reference="The Neural Autoregressive Distribution Estimator, H. Larochelle, I. Murray, "
        "2011; Importance Weighted Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016, "
        "https://arxiv.org/abs/1509.00519",
        license="none stated by the source",
    ),
    "omniglot": DatasetInfo(
        name="omniglot",
        description="Omniglot handwritten characters resized to 28x28, the IWAE paper's split "
        "(chardata.mat); grey levels in [0, 1], binarized by sampling as in the paper "
        "(binarize='dynamic'); no labels",
        shape=(1, 28, 28),
        # the split sizes reported by the IWAE paper (sec. 5)
        splits={"train": 24345, "test": 8070},
        num_classes=None,
        files={split: (_OMNIGLOT_MAT,) for split in ("train", "test")},
        urls=(
            "https://raw.githubusercontent.com/yburda/iwae/master/datasets/OMNIGLOT/",
            "https://github.com/yburda/iwae/raw/master/datasets/OMNIGLOT/",
        ),
        downloads=(_OMNIGLOT_MAT,),
        reference="Human-level concept learning through probabilistic program induction, "
        "B. M. Lake, R. Salakhutdinov, J. B. Tenenbaum, 2015; Importance Weighted "
        "Autoencoders, Y. Burda, R. Grosse, R. Salakhutdinov, 2016, "
        "https://arxiv.org/abs/1509.00519 (the 28x28 file: github.com/yburda/iwae)",
        license="none stated for the resized file; the Omniglot repository "
        "(github.com/brendenlake/omniglot) is MIT",
    ),
    "signals": DatasetInfo(
        name="signals",
        description=f"1-D signals of length {SIGNAL_LENGTH} generated in code with fixed seeds "
        "(AR(2) processes, noisy sine and sawtooth waves; labels: the family); real values, "
        "x (N, T); fixed split: 5000 train / 1000 test",
        shape=(SIGNAL_LENGTH,),
        splits={"train": 5000, "test": 1000},
        num_classes=3,
        reference="pyrogen.data.signal_mixture; Time Series Analysis: Forecasting and Control, "
        "G. E. P. Box et al., 4th ed. 2008, Section 3.2.4 (AR(2))",
        license="generated (no third-party data)",
    ),
}


def list_datasets() -> list[str]:
    """Names accepted by :func:`pyrogen.data.load`, sorted."""
    return sorted(DATASETS)


def get_dataset_info(name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of ``name``; ``ValueError`` listing the valid names otherwise."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; expected one of {', '.join(list_datasets())}")
    return DATASETS[name]
