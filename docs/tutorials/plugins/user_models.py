r"""The models of the "your own model" tutorial, registered for the ``pyrogen`` command line.

Each is a :class:`~pyro.nn.PyroModule` with ``model`` and ``guide`` in Pyro syntax; the
``register_model`` calls at the end make ``--import`` find them::

    pyrogen train cvae --import docs/tutorials/plugins/user_models.py --out runs/cvae
    pyrogen train mixture_vae --import docs/tutorials/plugins/user_models.py --loss enum_elbo
    pyrogen train bayes_pixels --import docs/tutorials/plugins/user_models.py \
        --batch-size 1500 --lr 0.02
    pyrogen eval runs/cvae

- :class:`CVAE`: a conditional VAE p(x | y) = int p(z) p(x | z, y) dz with the guide
  q(z | x, y) (Sohn, Lee & Yan 2015), registered with ``labels=True``.
- :class:`MixturePriorVAE`: a VAE whose prior is a Gaussian mixture,
  p(z) = sum_c pi_c N(z | mu_c, diag sigma_c^2); the component c is enumerated (summed out
  exactly by TraceEnum_ELBO) and the guide q(z | x) has no component site
  (Dilokthanakul et al. 2016; Jiang et al. 2017).
- :class:`BayesianPixelRegression`: a Bayesian logistic regression of every pixel on the
  one-hot label, logit p(x_d = 1 | y) = b_d + w_{y,d}, with ``PyroSample`` priors and an
  AutoGuide, registered with ``labels=True``.

Run as a script, this file only lists what it registers.

References:
    Learning Structured Output Representation using Deep Conditional Generative Models,
    K. Sohn, H. Lee, X. Yan, 2015.
    Deep Unsupervised Clustering with Gaussian Mixture Variational Autoencoders,
    N. Dilokthanakul et al., 2016. https://arxiv.org/abs/1611.02648
    Variational Deep Embedding, Z. Jiang et al., 2017. https://arxiv.org/abs/1611.05148
    Automatic Differentiation Variational Inference, A. Kucukelbir et al., 2017.
    https://arxiv.org/abs/1603.00788
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import pyro
import pyro.distributions as dist
import torch
from pyro.infer.autoguide import AutoNormal
from pyro.nn import PyroModule, PyroSample, pyro_method
from torch import nn
from torch.nn import functional as F

from pyrogen.cli.registry import register_model


def mlp(sizes: Sequence[int]) -> nn.Sequential:
    """Linear layers of the given widths with ReLU between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


class CVAE(PyroModule):
    r"""Conditional VAE: z ~ N(0, I), x | z, y ~ Bernoulli(decoder(z, onehot(y))).

    The guide q(z | x, y) = N(mu(x, y), diag sigma(x, y)^2) sees the label too.

    Args:
        x_shape: shape of one image, e.g. (1, 8, 8).
        num_classes: number of labels K; ``y`` holds int64 labels in [0, K).
        z_dim: latent size.
        hidden: hidden widths of the encoder (the decoder mirrors them).
    """

    def __init__(
        self, x_shape: Sequence[int], num_classes: int, z_dim: int = 8, hidden=(256,)
    ) -> None:
        super().__init__()
        self.x_shape, self.num_classes, self.z_dim = tuple(x_shape), num_classes, z_dim
        d = math.prod(self.x_shape)
        self.encoder = mlp([d + num_classes, *hidden, 2 * z_dim])
        self.decoder = mlp([z_dim + num_classes, *reversed(hidden), d])

    def _logits(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        # z may carry leading particle dims (S, N, z_dim): the label broadcasts over them.
        onehot = F.one_hot(y, self.num_classes).to(z.dtype).expand(*z.shape[:-1], -1)
        logits = self.decoder(torch.cat([z, onehot], -1))
        return logits.reshape(*z.shape[:-1], *self.x_shape)

    def model(self, x: torch.Tensor | None, y: torch.Tensor) -> None:
        with pyro.plate("data", y.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(self.z_dim), 1.0).to_event(1))
            likelihood = dist.Bernoulli(logits=self._logits(z, y))
            pyro.sample("x", likelihood.to_event(len(self.x_shape)), obs=x)

    def guide(self, x: torch.Tensor, y: torch.Tensor) -> None:
        onehot = F.one_hot(y, self.num_classes).to(x.dtype)
        loc, raw = self.encoder(torch.cat([x.flatten(1), onehot], -1)).chunk(2, -1)
        with pyro.plate("data", y.shape[0]):
            pyro.sample("z", dist.Normal(loc, F.softplus(raw) + 1e-4).to_event(1))

    @torch.no_grad()
    def sample(
        self, num_samples: int, y: torch.Tensor | None = None, mean: bool = False
    ) -> torch.Tensor:
        """``num_samples`` images for the labels ``y`` (uniform labels when ``None``):
        Bernoulli draws, or their means with ``mean=True``."""
        device = self.encoder[0].weight.device
        if y is None:
            y = torch.randint(self.num_classes, (num_samples,), device=device)
        probs = torch.sigmoid(self._logits(torch.randn(num_samples, self.z_dim, device=device), y))
        return probs if mean else torch.bernoulli(probs)


class MixturePriorVAE(PyroModule):
    r"""VAE with a Gaussian-mixture prior: c ~ Categorical(pi), z | c ~ N(mu_c, diag
    sigma_c^2), x | z ~ Bernoulli(decoder(z)); the guide q(z | x) has no site for c, which
    TraceEnum_ELBO sums out: log p(x, z) = log sum_c pi_c N(z | mu_c, sigma_c) + log p(x | z).

    Args:
        x_shape: shape of one image.
        num_components: mixture components K.
        z_dim: latent size.
        hidden: hidden widths of the encoder (the decoder mirrors them).
    """

    def __init__(
        self, x_shape: Sequence[int], num_components: int = 10, z_dim: int = 8, hidden=(256,)
    ) -> None:
        super().__init__()
        self.x_shape, self.z_dim = tuple(x_shape), z_dim
        d = math.prod(self.x_shape)
        self.mixture_logits = nn.Parameter(torch.zeros(num_components))
        self.component_locs = nn.Parameter(2.0 * torch.randn(num_components, z_dim))
        self.component_log_scales = nn.Parameter(torch.zeros(num_components, z_dim))
        self.encoder = mlp([d, *hidden, 2 * z_dim])
        self.decoder = mlp([z_dim, *reversed(hidden), d])

    def model(self, x: torch.Tensor | None = None, num_samples: int | None = None) -> None:
        n = x.shape[0] if x is not None else num_samples
        with pyro.plate("data", n):
            # Enumerated: c takes every value at once, in a dim left of the plates.
            c = pyro.sample(
                "c", dist.Categorical(logits=self.mixture_logits), infer={"enumerate": "parallel"}
            )
            scale = self.component_log_scales[c].exp()
            z = pyro.sample("z", dist.Normal(self.component_locs[c], scale).to_event(1))
            logits = self.decoder(z).reshape(*z.shape[:-1], *self.x_shape)
            pyro.sample("x", dist.Bernoulli(logits=logits).to_event(len(self.x_shape)), obs=x)

    def guide(self, x: torch.Tensor, num_samples: int | None = None) -> None:
        loc, raw = self.encoder(x.flatten(1)).chunk(2, -1)
        with pyro.plate("data", x.shape[0]):
            pyro.sample("z", dist.Normal(loc, F.softplus(raw) + 1e-4).to_event(1))

    @torch.no_grad()
    def sample(
        self, num_samples: int, mean: bool = False, component: int | None = None
    ) -> torch.Tensor:
        """Images from the prior (from one mixture component if ``component`` is given)."""
        if component is None:
            c = dist.Categorical(logits=self.mixture_logits).sample((num_samples,))
        else:
            c = torch.full((num_samples,), component, device=self.mixture_logits.device)
        z = dist.Normal(self.component_locs[c], self.component_log_scales[c].exp()).sample()
        probs = torch.sigmoid(self.decoder(z)).reshape(num_samples, *self.x_shape)
        return probs if mean else torch.bernoulli(probs)

    @torch.no_grad()
    def cluster(self, x: torch.Tensor) -> torch.Tensor:
        """argmax_c p(c | z) at the guide's mean of z: each image's mixture component."""
        loc = self.encoder(x.flatten(1)).chunk(2, -1)[0]
        scale = self.component_log_scales.exp()
        log_pz_c = dist.Normal(self.component_locs, scale).log_prob(loc.unsqueeze(-2)).sum(-1)
        return (log_pz_c + self.mixture_logits.log_softmax(-1)).argmax(-1)


class BayesianPixelRegression(PyroModule):
    r"""Bayesian logistic regression of every pixel on the one-hot label:
    x_d | y ~ Bernoulli(sigmoid(b_d + w_{y,d})), b ~ N(0, 3^2), w ~ N(0, 1).

    ``bias`` and ``weight`` are ``PyroSample`` priors: reading ``self.weight`` inside
    ``model`` draws the site ``"weight"``, because ``model`` is a ``pyro_method`` (outside
    one, or outside ``forward``, PyroModule returns a plain prior draw and records no site).
    They are global latents (outside the data plate); the guide is an
    :class:`~pyro.infer.autoguide.AutoNormal` over both, built on its first call.

    Args:
        x_shape: shape of one image.
        num_classes: number of labels K.
    """

    def __init__(self, x_shape: Sequence[int], num_classes: int) -> None:
        super().__init__()
        self.x_shape, self.num_classes = tuple(x_shape), num_classes
        event = len(self.x_shape)
        self.bias = PyroSample(dist.Normal(0.0, 3.0).expand(self.x_shape).to_event(event))
        self.weight = PyroSample(
            dist.Normal(0.0, 1.0).expand((num_classes, *self.x_shape)).to_event(event + 1)
        )
        self.guide = AutoNormal(self.model)

    @pyro_method
    def model(self, x: torch.Tensor | None, y: torch.Tensor) -> None:
        logits = self.bias + self.weight[y]  # (N, C, H, W)
        with pyro.plate("data", y.shape[0]):
            likelihood = dist.Bernoulli(logits=logits).to_event(len(self.x_shape))
            pyro.sample("x", likelihood, obs=x)


@register_model("cvae", labels=True, description="conditional VAE p(x | y) (tutorial model)")
def build_cvae(x_shape, num_classes, z_dim=None, hidden=None, **unused) -> CVAE:
    return CVAE(x_shape, num_classes, z_dim=z_dim or 8, hidden=tuple(hidden or (256,)))


@register_model(
    "mixture_vae", description="VAE with an enumerated Gaussian-mixture prior (tutorial model)"
)
def build_mixture_vae(x_shape, z_dim=None, hidden=None, **unused) -> MixturePriorVAE:
    return MixturePriorVAE(x_shape, z_dim=z_dim or 8, hidden=tuple(hidden or (256,)))


@register_model(
    "bayes_pixels",
    labels=True,
    description="Bayesian logistic regression of each pixel on the label, AutoNormal guide "
    "(tutorial model; train full-batch)",
)
def build_bayes_pixels(x_shape, num_classes, **unused) -> BayesianPixelRegression:
    return BayesianPixelRegression(x_shape, num_classes)


if __name__ == "__main__":
    from pyrogen.cli.registry import describe_models

    for name in ("cvae", "mixture_vae", "bayes_pixels"):
        print(f"{name:<14} {describe_models()[name]}")
