from pyrogen.cli.parser import parser, train_config
from pyrogen.cli.runs import build_stepper


def _config(argv):
    cfg, _, _ = train_config(parser().parse_args(["train", "vae", *argv]))
    cfg.x_shape = [1, 8, 8]
    return cfg


def test_speed_flags_reach_the_trainer():
    default = build_stepper(_config([]))
    assert default.fast and not default.bf16 and default.objective.fast.particle_chunk is None

    tuned = build_stepper(
        _config(["--bf16", "--analytic-kl", "--loss", "elbo", "--particle-chunk", "2"])
    )
    assert (
        tuned.bf16 and tuned.objective.fast.analytic_kl and tuned.objective.fast.particle_chunk == 2
    )

    slow = build_stepper(_config(["--no-fast"]))
    assert not slow.fast and slow.fast_reason.startswith("disabled")
