"""Which ``pyrogen train`` options each model applies: one table, read by the checks and docs.

Every option of ``pyrogen train`` is either applied to the model being trained or refused
with a message, never silently ignored. The run options (:data:`RUN_OPTIONS`: data, length,
seed, device, output) apply to every model; the others apply to the models that list them
in ``register_model(..., options=...)``, and, for ``--num-particles`` and ``--beta``, to the
objectives that list them in ``register_loss(..., options=...)``. Only options the user
gave are checked: the command line parses every option with the default ``None`` and fills
the defaults afterwards, so a default never trips a refusal.

``docs/cli_options.md`` is generated from these declarations
(``python -m pyrogen.cli.options_doc``), so the documented table is the enforced one.
"""

from __future__ import annotations

import inspect
from collections.abc import Collection
from typing import TYPE_CHECKING, Any

from pyrogen.cli.registry import ModelSpec, get_loss_spec, list_losses

if TYPE_CHECKING:
    from pyrogen.cli.runs import TrainConfig

# Options of every run: what data, how long, which seed, where it runs and writes.
RUN_OPTIONS: tuple[str, ...] = (
    "dataset",
    "epochs",
    "batch_size",
    "seed",
    "device",
    "out",
    "data_root",
    "early_stopping",
    "tensorboard",
    "quiet",
    "checkpoint_minutes",
    "imports",
    "allow_changes",
)
# Passed to the model's ``build``.
MODEL_OPTIONS: tuple[str, ...] = ("z_dim", "hidden", "likelihood", "teacher")
# Read by the objective (``register_loss(options=...)`` says which objective reads which).
LOSS_OPTIONS: tuple[str, ...] = ("num_particles", "beta")
# Read by SVITrainer: the objective and its optimizer update.
SVI_OPTIONS: tuple[str, ...] = (
    "lr",
    "loss",
    "binarize",
    "fast",
    "clip_grad_norm",
    "accumulate",
    "lr_schedule",
    "ema_decay",
)
# Read only by the fast (tracing-free, hand-derived) objective of the built-in VAEs.
FAST_PATH_OPTIONS: tuple[str, ...] = ("particle_chunk", "compile", "bf16", "analytic_kl")
# Applied by the command line to the model it built, before the first step of a new run.
INIT_OPTIONS: tuple[str, ...] = ("init_output_bias",)
# The objectives whose KL term ``--analytic-kl`` replaces by its closed form.
CLOSED_FORM_KL_LOSSES: tuple[str, ...] = ("elbo",)
# What a model registered with its own stepper and without ``options=`` may read.
STEPPER_OPTIONS: tuple[str, ...] = ("lr", "loss", "binarize", "gamma", *LOSS_OPTIONS)


def flag(option: str) -> str:
    """The command-line spelling of a config field: ``"z_dim"`` -> ``"--z-dim"``."""
    if option == "fast":
        return "--no-fast"
    if option == "imports":
        return "--import"
    return "--" + option.replace("_", "-")


def build_parameters(spec: ModelSpec) -> dict[str, inspect.Parameter]:
    """The parameters that ``spec.build`` names (not those it swallows with ``**kwargs``)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    params = inspect.signature(spec.build).parameters
    return {name: p for name, p in params.items() if p.kind in kinds}


def applied_options(spec: ModelSpec) -> frozenset[str]:
    """Every ``pyrogen train`` option (config field name) that model ``spec`` applies.

    A model registered without ``options=`` applies the model options its ``build`` names
    and the options of its trainer: SVITrainer's for a model without a stepper, else those a
    stepper may read from the config (:data:`STEPPER_OPTIONS`).
    """
    if spec.options is not None:
        return frozenset(RUN_OPTIONS) | spec.options
    named = [o for o in MODEL_OPTIONS if o in build_parameters(spec)]
    trainer = (*SVI_OPTIONS, *LOSS_OPTIONS, *FAST_PATH_OPTIONS)
    return frozenset((*RUN_OPTIONS, *named, *(STEPPER_OPTIONS if spec.stepper else trainer)))


def loss_options(loss: str) -> frozenset[str]:
    """The options of :data:`LOSS_OPTIONS` that objective ``loss`` reads."""
    return get_loss_spec(loss).options & frozenset(LOSS_OPTIONS)


def _spell(options: Collection[str]) -> str:
    return ", ".join(flag(o) for o in options)


def check_options(spec: ModelSpec, given: Collection[str], loss: str | None) -> None:
    """Refuses an option given for model ``spec`` that it does not apply.

    Args:
        spec: the model.
        given: the config fields the user set explicitly (defaults are never checked).
        loss: the objective of an SVI model (``None``: the model's own stepper).

    Raises:
        ValueError: naming the refused options and those the model takes.
    """
    applied = applied_options(spec)
    order = sorted(o for o in given if o != "model")
    refused = [o for o in order if o not in applied]
    if refused:
        extra = sorted(applied - frozenset(RUN_OPTIONS))
        takes = _spell(extra) if extra else "none beyond the run options"
        raise ValueError(
            f"model {spec.name!r} does not apply {_spell(refused)}; its options: {takes} "
            f"(and those of every run); see docs/cli_options.md. Omit {_spell(refused)}"
        )
    if spec.stepper is not None:
        if "loss" in given and loss in list_losses():
            raise ValueError(
                f"--loss {loss} is an SVI objective; model {spec.name!r} trains with its own "
                f"stepper and losses (see `pyrogen list`)"
            )
        return
    if loss is None:
        return
    reads = loss_options(loss)
    unread = [o for o in order if o in LOSS_OPTIONS and o not in reads]
    if unread:
        readers = {o: [name for name in list_losses() if o in loss_options(name)] for o in unread}
        where = "; ".join(f"{flag(o)} is read by --loss {'|'.join(readers[o])}" for o in unread)
        raise ValueError(f"--loss {loss} does not read {_spell(unread)}: {where}")


def check_fast_path(stepper: Any, given: Collection[str]) -> None:
    """Refuses fast-path options when the built trainer does not run the fast objective.

    ``--particle-chunk``, ``--compile`` and ``--bf16`` act only inside the fast objective
    (:class:`~pyrogen.infer.objective.FastObjective`). (``--analytic-kl`` under ``--no-fast``
    is Pyro's own ``TraceMeanField_ELBO``.)
    """
    from pyrogen.infer import SVITrainer
    from pyrogen.infer.objective import FastObjective

    if not isinstance(stepper, SVITrainer):
        return
    idle = [o for o in ("particle_chunk", "compile", "bf16") if o in given]
    if idle and not isinstance(stepper.objective, FastObjective):
        raise ValueError(
            f"{_spell(idle)}: options of the fast objective, which does not run here "
            f"({stepper.objective.reason}); omit {_spell(idle)}"
        )


def resolve_defaults(spec: ModelSpec, cfg: TrainConfig, given: Collection[str]) -> None:
    """Fills the options of a new run that the user did not give with the values the model
    is built and trained with, so that ``config.json`` records them: the model's declared
    ``defaults`` (e.g. the GAN's loss), and for ``z_dim``, ``hidden`` and ``likelihood`` the
    defaults of its ``build``. An option the model does not apply keeps its config default.
    """
    applied = applied_options(spec)
    for option, value in spec.defaults.items():
        if option == "analytic_kl" and cfg.loss not in CLOSED_FORM_KL_LOSSES:
            continue  # the closed form is the ELBO's; other objectives keep their estimator
        if option not in given:
            setattr(cfg, option, list(value) if isinstance(value, tuple) else value)
    params = build_parameters(spec)
    for option in ("z_dim", "hidden", "likelihood"):
        p = params.get(option)
        if option in given or option not in applied or p is None or p.default is p.empty:
            continue
        value = p.default
        setattr(cfg, option, list(value) if isinstance(value, tuple) else value)
