r"""Robust mean estimation with a JS-GAN (Gao, Liu, Yao & Zhu): the location of a Gaussian under
Huber contamination :math:`X_i \sim (1 - \epsilon) N(\theta, I_p) + \epsilon Q`.

.. math::

    \hat\theta = \arg\min_{\eta} \max_{D \in \mathcal{D}}
        \frac{1}{n} \sum_{i=1}^n \log D(X_i) + E_{X \sim N(\eta, I_p)} \log(1 - D(X)) + \log 4

The generator is the location model :math:`N(\eta, I_p)`, i.e. :math:`G(z) = \eta + z` with
:math:`z \sim N(0, I_p)`. The discriminator class is the paper's: one hidden layer of sigmoid
units, :math:`D(x) = \mathrm{sigmoid}(\sum_j w_j \,\mathrm{sigmoid}(u_j^\top x + b_j) + c)`. At
the optimal discriminator the inner maximum is :math:`2\,JS(P_n, N(\eta, I_p))`, so the
estimator matches the bulk of the data in Jensen-Shannon divergence; the paper proves it attains
the minimax rate :math:`\sqrt{p/n} + \epsilon` for any contamination Q, and shows that the
hidden layer is needed: with a logistic-regression discriminator (``hidden=0``) the saddle point
is the sample mean, which is not robust.

Training alternates ``critic_steps`` discriminator updates with one generator update, on
minibatches of the data and fresh generator draws (Goodfellow et al. 2014, Algorithm 1); the
estimate is the average of :math:`\eta` over the last ``average`` fraction of the generator
steps (the authors' released code also averages the last iterates). The paper's theory bounds
:math:`\sum_j |w_j|`; that bound is not imposed here.

References:
    Robust Estimation and Generative Adversarial Nets, C. Gao, J. Liu, Y. Yao, W. Zhu, 2019
    (ICLR), sec. 3 (JS-GAN with sigmoid-hidden-layer discriminators, minimax rate; the
    logistic-regression discriminator gives the sample mean). https://arxiv.org/abs/1810.02030
    Generative Adversarial Nets, I. Goodfellow et al., 2014, eq. (1), Algorithm 1.
    https://arxiv.org/abs/1406.2661
"""

from __future__ import annotations

import math

import torch
from torch import nn

from pyrogen.objectives.gan_loss import GANLoss

_LOSSES = ("minimax", "nonsaturating")


class SigmoidDiscriminator(nn.Module):
    r"""Logit :math:`T(x) = \sum_{j=1}^{h} w_j\,\mathrm{sigmoid}(u_j^\top x + b_j) + c`.

    ``D(x) = sigmoid(T(x))``. With ``hidden=0`` the network is a logistic regression,
    :math:`T(x) = w^\top x + c`. Weights start Glorot-normal from ``generator``, biases at 0.
    ``forward`` maps data ``(B, p)`` to logits ``(B,)``.

    Args:
        dim: the data dimension p.
        hidden: number h of sigmoid hidden units; 0 for a logistic regression.
        generator: torch random generator for the initial weights; the global one when None.
        dtype: parameter dtype.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 20,
        generator: torch.Generator | None = None,
        dtype: torch.dtype | None = None,
    ):
        super().__init__()
        for name, v, low in (("dim", dim, 1), ("hidden", hidden, 0)):
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an int >= {low}, got {v!r}")
        sizes = [dim, hidden, 1] if hidden else [dim, 1]
        layers = [nn.Linear(a, b, dtype=dtype) for a, b in zip(sizes[:-1], sizes[1:])]
        with torch.no_grad():
            for layer in layers:
                fan_out, fan_in = layer.weight.shape
                std = math.sqrt(2.0 / (fan_in + fan_out))
                w = torch.randn(fan_out, fan_in, generator=generator, dtype=layer.weight.dtype)
                layer.weight.copy_(std * w)
                layer.bias.zero_()
        self.layers = nn.ModuleList(layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        *hidden_layers, output = self.layers
        h = x
        for layer in hidden_layers:
            h = torch.sigmoid(layer(h))  # (B, hidden)
        return output(h).squeeze(-1)


def _check_args(x: torch.Tensor, init: torch.Tensor | str, **ints: int) -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"x must be a floating tensor of shape (n, p), got {got}")
    if x.shape[0] < 2 or x.shape[1] < 1:
        raise ValueError(f"x needs n >= 2 rows of p >= 1 values, got shape {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError("x must be finite; it holds nan or inf")
    for name, v in ints.items():
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise ValueError(f"{name} must be a positive int, got {v!r}")
    if isinstance(init, str):
        if init not in ("median", "mean"):
            raise ValueError(f"init must be 'median', 'mean' or a tensor, got {init!r}")
    elif init.shape != (x.shape[1],):
        raise ValueError(f"init must have shape ({x.shape[1]},), got {tuple(init.shape)}")


def robust_mean_gan(
    x: torch.Tensor,
    *,
    hidden: int = 20,
    steps: int = 300,
    critic_steps: int = 5,
    batch_size: int = 200,
    lr: float = 0.01,
    loss: str = "nonsaturating",
    init: torch.Tensor | str = "median",
    average: float = 0.2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""JS-GAN estimate :math:`\hat\theta = \arg\min_\eta \max_D \frac1n \sum_i \log D(X_i) +
    E_{N(\eta, I_p)} \log(1 - D(X))` of the location of :math:`N(\theta, I_p)` from
    contaminated data.

    Args:
        x: data ``(n, p)``, e.g. from :func:`pyrogen.data.huber_contamination`.
        hidden: sigmoid hidden units of the discriminator; 0 gives a logistic regression,
            whose saddle point is the sample mean (the paper's negative result).
        steps: generator updates.
        critic_steps: discriminator updates before each generator update.
        batch_size: data examples (and generator draws) per update.
        lr: Adam learning rate of both players (betas 0.5, 0.999 as Radford et al. 2016).
        loss: the generator's loss: ``"nonsaturating"`` (:math:`-\log D(G(z))`, the usual
            practice) or ``"minimax"`` (:math:`\log(1 - D(G(z)))`, the objective above).
        init: the starting :math:`\eta`: ``"median"`` (coordinate-wise, as the authors'
            code), ``"mean"``, or a tensor ``(p,)``.
        average: fraction of the last generator steps whose :math:`\eta` are averaged into the
            estimate (0: the last iterate).
        generator: torch random generator for minibatches, generator draws and the
            discriminator's initial weights; the global one when ``None``.

    Returns:
        The estimate, shape ``(p,)``, in ``x``'s dtype (detached).

    Example:
        >>> from pyrogen.data import huber_contamination
        >>> g = torch.Generator().manual_seed(0)
        >>> x, _ = huber_contamination(2000, torch.zeros(5), 0.2, 5.0, generator=g)
        >>> theta = robust_mean_gan(x, steps=200, init="mean", generator=g)
        >>> round(x.mean(0).norm().item(), 1), theta.norm().item() < 0.2
        (2.2, True)

    References:
        Robust Estimation and Generative Adversarial Nets, C. Gao, J. Liu, Y. Yao, W. Zhu,
        2019, sec. 3. https://arxiv.org/abs/1810.02030
    """
    _check_args(x, init, steps=steps, critic_steps=critic_steps, batch_size=batch_size)
    if loss not in _LOSSES:
        raise ValueError(f"loss must be one of {_LOSSES}, got {loss!r}")
    if not 0.0 <= average <= 1.0:
        raise ValueError(f"average must lie in [0, 1], got {average!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    x = x.detach()
    n, p = x.shape
    if isinstance(init, str):
        # the lower median for even n is fine here: it is only a starting point
        start = x.median(0).values if init == "median" else x.mean(0)
    else:
        start = init.detach().to(x)
    eta = start.clone().requires_grad_(True)
    critic = SigmoidDiscriminator(p, hidden, generator=generator, dtype=x.dtype).to(x.device)
    objective = GANLoss(loss)
    betas = (0.5, 0.999)
    opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=betas)
    opt_g = torch.optim.Adam([eta], lr=lr, betas=betas)
    dev, dtype = x.device, x.dtype

    def noise() -> torch.Tensor:
        return torch.randn(batch_size, p, generator=generator, dtype=dtype, device=dev)

    first_averaged = steps - max(1, round(average * steps))
    total = torch.zeros(p, dtype=dtype, device=dev)
    for step in range(steps):
        for _ in range(critic_steps):
            real = x[torch.randint(n, (batch_size,), generator=generator, device=dev)]
            fake = eta.detach() + noise()  # G(z) = eta + z
            d_loss = objective.discriminator_loss(critic(real), critic(fake))
            opt_d.zero_grad()
            d_loss.backward()
            opt_d.step()
        g_loss = objective.generator_loss(critic(eta + noise()))
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
        if step >= first_averaged:
            total += eta.detach()
    return total / (steps - first_averaged)
