import dataclasses

from pyrogen.cli import TrainConfig, build_stepper, parser


def _config(argv):
    args = parser().parse_args(["train", "vae", *argv])
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(args).items() if k in fields})
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
