"""The ``pyrogen`` command: ``train``, ``eval``, ``sample`` and ``list``.

A run directory holds ``config.json``, ``checkpoint.pt``, ``metrics.csv`` and PNG figures
(samples, reconstructions, loss curve); ``eval`` and ``sample`` rebuild the model from it.
A model registered with ``labels=True`` trains on the dataset's ``(x, y)`` and is sampled
class by class.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import pyro

from pyrogen.cli.evaluation import cmd_eval
from pyrogen.cli.interrupt import report_interrupt
from pyrogen.cli.parser import parser, train_config
from pyrogen.cli.registry import import_plugin
from pyrogen.cli.runs import is_rank0
from pyrogen.cli.sampling import cmd_sample
from pyrogen.cli.training import cmd_train
from pyrogen.infer.checkpoint import CheckpointError
from pyrogen.infer.distributed import PeerLostError


def cmd_list() -> None:
    from pyrogen.cli.registry import describe_losses, describe_models
    from pyrogen.data import list_datasets

    print("models:")
    for name, text in describe_models().items():
        print(f"  {name:<20} {text}")
    print("datasets:")
    for name in list_datasets():
        print(f"  {name}")
    print("losses:")
    for name, text in describe_losses().items():
        print(f"  {name:<20} {text}")


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser().parse_args(argv)
    pyro.settings.set(module_local_params=True)
    try:
        if args.command == "train":
            cmd_train(*train_config(args))
        elif args.command == "eval":
            cmd_eval(args.run_dir, args.num_samples, args.device, args.limit, args.seed)
        elif args.command == "sample":
            cmd_sample(args.run_dir, args.n, args.out, args.device, args.mean)
        else:
            for target in args.imports:
                import_plugin(target)
            cmd_list()
    except (ValueError, OSError, CheckpointError, PeerLostError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:  # Ctrl-C: where training stopped, and how to resume
        return report_interrupt(e, argv, getattr(args, "out", None)) if is_rank0() else 130
    return 0
