"""Atomic, load-safe checkpoints: a crash or Ctrl-C while saving never leaves a half-written
file, and reading a checkpoint never runs code from it.

A checkpoint is written to a temporary file in the same directory, flushed to disk, then
renamed over the previous one (:mod:`pyrogen.infer.atomic_write`): a ``SIGKILL`` at any
moment leaves the previous checkpoint or the new one, and a failed write (a full disk) raises
:class:`CheckpointWriteError` with the previous checkpoint intact.

Run directories are shared, so a checkpoint holds only tensors, numbers, strings, ``None``
and lists, tuples and dicts of them: :func:`load_checkpoint` reads it with
``torch.load(weights_only=True)``, which rebuilds no other Python object, and refuses a file
that would need unpickling (:class:`CheckpointError`) instead of falling back to the pickle
loader that runs whatever the file names. :func:`save_checkpoint` checks the same rule, so a
stepper whose ``state_dict()`` holds another object fails when it saves, not when its run is
read. :func:`export_weights` writes a module's parameters alone, as ``safetensors``.
"""

from __future__ import annotations

import collections
import os
import pickle
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from pyrogen.infer.atomic_write import atomic_write

# v2: every value is weights_only-safe (v1 held NumPy's RNG state as a NumPy array).
FORMAT = "pyrogen-checkpoint-v2"
WEIGHTS_FORMAT = "pyrogen-weights-v1"

# What torch.load(weights_only=True) rebuilds (torch._weights_only_unpickler), exact types.
_LEAVES = (type(None), bool, int, float, complex, str, bytes, torch.dtype, torch.device)
_TENSORS = (torch.Tensor, nn.Parameter, torch.Size)
_CONTAINERS = (dict, collections.OrderedDict, list, tuple, set)


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, corrupt, unsafe to load, or does not match the
    model."""


class CheckpointWriteError(OSError, CheckpointError):
    """A checkpoint could not be written (a full disk, a file-size limit, an I/O error);
    the file it would have replaced is intact. ``errno`` is the system's error number."""

    def __str__(self) -> str:
        return str(self.strerror)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """Writes ``state`` (plus a format tag) to ``path`` atomically.

    Raises:
        TypeError: ``state`` holds an object that ``torch.load(weights_only=True)`` would
            refuse; the message names where it is.
        CheckpointWriteError: the file could not be written (e.g. no space left on the
            device); ``path`` holds what it held before.
    """
    path = Path(path)
    check_loadable(state)
    try:
        atomic_write(path, lambda f: torch.save({"format": FORMAT, **state}, f))
    except OSError as e:
        if path.is_file():
            kept = "it holds the previous checkpoint, intact"
        else:
            kept = "there was no checkpoint there before, and there is none now"
        raise CheckpointWriteError(
            e.errno,
            f"{e.strerror}: {kept}. Free space on that file system (or fix the error) and run "
            f"again to continue from the last checkpoint",
        ) from e


def check_loadable(state: Any, where: str = "state") -> None:
    """Raises ``TypeError`` naming the first object in ``state`` that is not a tensor,
    number, string, ``None``, dtype, device or a list/tuple/set/dict of them."""
    kind = type(state)
    if kind in _LEAVES or kind in _TENSORS:
        return
    if kind in _CONTAINERS:
        if isinstance(state, dict):
            for k, v in state.items():
                check_loadable(k, f"{where} key {k!r}")
                check_loadable(v, f"{where}[{k!r}]")
        else:
            for i, v in enumerate(state):
                check_loadable(v, f"{where}[{i}]")
        return
    raise TypeError(
        f"a checkpoint holds only tensors, numbers, strings, None and lists, tuples and dicts "
        f"of them (what torch.load(weights_only=True) reads back); {where} is a "
        f"{kind.__module__}.{kind.__qualname__}: convert it in the state_dict() that makes it"
    )


def load_checkpoint(path: str | os.PathLike[str], map_location: Any = "cpu") -> dict[str, Any]:
    """Reads a checkpoint written by :func:`save_checkpoint`, with clear errors.

    The file is read with ``torch.load(weights_only=True)`` and nothing else, so a checkpoint
    from someone else cannot run code on this machine.

    Raises:
        CheckpointError: no file, a truncated or corrupt one, one that names Python objects
            (only unpickling, which can run arbitrary code, would rebuild them), or one that
            is not a pyrogen checkpoint of this format.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: expected a file written by pyrogen.fit")
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        unsafe = _unsafe_globals(path)
        if not unsafe:  # a damaged pickle, not a hostile one
            raise CheckpointError(
                f"checkpoint {path} is truncated or corrupt ({_torch_reason(e)}); expected a "
                f"complete file written by pyrogen.fit — delete it or restore a backup"
            ) from None
        raise CheckpointError(
            f"refusing to load checkpoint {path}: it names Python objects outside "
            f"torch.load's weights-only allowlist ({', '.join(unsafe)}), and rebuilding them "
            f"would need full unpickling, which can run arbitrary code. A pyrogen checkpoint "
            f"holds only tensors, numbers, strings, lists and dicts; if this file is your own "
            f"(an older pyrogen's) and you trust it, retrain, or load it yourself with "
            f"torch.load(weights_only=False) and export its weights"
        ) from None
    except Exception as e:  # torch raises several types for truncated/corrupt zip archives
        raise CheckpointError(
            f"checkpoint {path} is truncated or corrupt ({type(e).__name__}: {e}); expected a "
            f"complete file written by pyrogen.fit — delete it or restore a backup"
        ) from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(
            f"{path} is not a pyrogen checkpoint: expected format {FORMAT!r}, found {found!r}"
        )
    return state


def _unsafe_globals(path: Path) -> list[str]:
    """The Python objects a checkpoint names beyond the allowlist, found by reading its
    pickle without running it."""
    try:
        return list(torch.serialization.get_unsafe_globals_in_checkpoint(path))
    except Exception:  # not an archive torch can inspect
        return []


def _torch_reason(e: Exception) -> str:
    """The specific line of torch's weights-only error (its other lines are boilerplate)."""
    lines = [ln for ln in str(e).splitlines() if ln.strip()]
    return lines[1] if len(lines) > 2 else str(e)


def rng_state() -> dict[str, Any]:
    """The state of every random generator that training touches, as tensors and numbers."""
    name, key, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the global one)
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "bit_generator": str(name),
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),  # uint32 (624,)
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": random.getstate(),  # (version, tuple of ints, None): plain values
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores the generators saved by :func:`rng_state`."""
    # map_location may have moved the saved byte tensors; the setters take CPU tensors.
    torch.set_rng_state(state["torch"].cpu())
    npy = state["numpy"]
    key = npy["key"].cpu().numpy().astype(np.uint32)
    np.random.set_state(  # noqa: NPY002
        (npy["bit_generator"], key, npy["pos"], npy["has_gauss"], npy["cached_gaussian"])
    )
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([s.cpu() for s in state["cuda"]])


def export_weights(module: nn.Module, path: str | os.PathLike[str]) -> None:
    """Writes the parameters and buffers of ``module`` alone, for sharing a trained model.

    The file is ``safetensors`` when that package is installed (a format with no code in it
    at all), else a ``torch.save`` of the ``state_dict`` tensors that :func:`load_weights`
    reads with ``weights_only=True``. Either way it holds no optimizer, RNG or history.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        from safetensors.torch import save_model
    except ImportError:
        tensors = {k: v.detach().cpu() for k, v in module.state_dict().items()}
        torch.save({"format": WEIGHTS_FORMAT, "weights": tensors}, path)
        return
    save_model(module, str(path), metadata={"format": WEIGHTS_FORMAT})


def load_weights(module: nn.Module, path: str | os.PathLike[str]) -> nn.Module:
    """Loads a file written by :func:`export_weights` into ``module``, a freshly built
    instance of the same model class with the same options; returns ``module``::

        vae = load_weights(VAE(x_dim=64, z_dim=2, hidden=[8]), "vae.safetensors")

    Raises:
        CheckpointError: the file is missing, not an export, or its tensors do not match
            ``module``'s parameters (names or shapes).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no weights at {path}: expected a file from export_weights")
    with path.open("rb") as f:
        # torch.save writes a zip archive; safetensors starts with its header's length.
        is_zip = f.read(4) == b"PK\x03\x04"
    try:
        if is_zip:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or state.get("format") != WEIGHTS_FORMAT:
                raise CheckpointError(f"{path} is not a pyrogen weights export")
            module.load_state_dict(state["weights"])
        else:
            from safetensors.torch import load_model

            device = next(iter(module.state_dict().values()), torch.empty(0)).device
            load_model(module, str(path), device=str(device))
    except CheckpointError:
        raise
    except Exception as e:
        raise CheckpointError(
            f"cannot load weights {path} into {type(module).__name__} "
            f"({type(e).__name__}: {e}); expected a file from export_weights of this model "
            f"class built with the same options"
        ) from None
    return module
