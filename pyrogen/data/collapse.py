r"""The posterior-collapse toy data, pi(x) = N(x | mu, Sigma) in D dimensions.

With a diagonal Sigma (``rank=0``) the coordinates are independent, so a decoder with a
diagonal Gaussian p(x | z) models pi(x) exactly without z: the ELBO optimum sets
q(z | x) = p(z) and every latent unit collapses. With Sigma = Psi + W W^T, W of rank r and
Psi diagonal, the correlations can only come through z: at the optimum (factor analysis)
exactly r latent units are active.
"""

from __future__ import annotations

import torch


def _check(dim: int, rank: int) -> None:
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"dim must be a positive int, got {dim!r}")
    if isinstance(rank, bool) or not isinstance(rank, int) or not 0 <= rank <= dim:
        raise ValueError(f"rank must be an int in [0, dim={dim}], got {rank!r}")


def collapse_gaussian_params(
    dim: int = 5, rank: int = 0, seed: int = 0, noise: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""Mean ``(D,)`` and covariance ``(D, D)`` Sigma = Psi + W W^T of the collapse toy.

    Psi = ``noise`` * I (isotropic, so that the collapsed optimum of
    :class:`~pyrogen.models.LinearGaussianVAE` is unique); W ``(D, rank)`` has N(0, 1)
    entries (drawn from ``seed``, so the same ``(dim, rank, seed)`` always gives the same Sigma);
    ``rank=0`` gives the diagonal case.
    """
    _check(dim, rank)
    gen = torch.Generator().manual_seed(seed)
    loc = torch.linspace(-1.0, 1.0, dim)
    if not noise > 0:
        raise ValueError(f"noise must be positive, got {noise!r}")
    w = torch.randn(dim, rank, generator=gen)
    return loc, noise * torch.eye(dim) + w @ w.T


def collapse_gaussian(
    n: int,
    dim: int = 5,
    rank: int = 0,
    generator: torch.Generator | None = None,
    seed: int = 0,
    exact_moments: bool = False,
) -> torch.Tensor:
    r"""Draws ``(n, dim)`` i.i.d. points from N(mu, Sigma) of :func:`collapse_gaussian_params`.

    Args:
        n: number of points.
        dim: data dimension D.
        rank: rank of the off-diagonal part W W^T (0: diagonal Sigma, the collapse case).
        generator: random generator of the draws (the default generator when None).
        seed: seed of Sigma itself, independent of the draws.
        exact_moments: whiten the draws so that the sample mean and (biased) sample
            covariance equal mu and Sigma exactly (needs ``n > dim``). A finite sample has
            spurious correlations that a maximum-likelihood fit explains with extra latent
            units; exact moments make the finite-sample optimum the population one.

    References:
        Lecture supplement "Posterior collapse: toy example" (seeds), after
        Don't Blame the ELBO! A Linear VAE Perspective on Posterior Collapse, J. Lucas,
        G. Tucker, R. Grosse, M. Norouzi, 2019, sec. 4. https://arxiv.org/abs/1911.02469
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    loc, cov = collapse_gaussian_params(dim, rank, seed)
    dev = generator.device if generator is not None else torch.device("cpu")
    chol = torch.linalg.cholesky(cov.double()).float()
    eps = torch.randn(n, dim, generator=generator, device=dev)
    if exact_moments:
        if n <= dim:
            raise ValueError(f"exact_moments needs n > dim, got n={n}, dim={dim}")
        eps = (eps - eps.mean(0)).double()
        whiten = torch.linalg.cholesky(eps.T @ eps / n)
        eps = torch.linalg.solve_triangular(whiten, eps.T, upper=False).T.float()
    return loc.to(dev) + eps @ chol.T.to(dev)


def template_sequences(
    n: int,
    length: int = 24,
    num_templates: int = 4,
    flip_prob: float = 0.05,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> torch.Tensor:
    r"""Binary sequences ``(n, length)``: a random template out of K, each bit flipped w.p. p.

    The K templates are fixed random bit strings (from ``seed``). Which template a sequence
    comes from is a global property: a decoder that sees the whole prefix can infer it, one
    that sees only a short window cannot, which is what the VLAE experiment contrasts.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not 0 <= flip_prob <= 0.5 or num_templates < 1 or length < 1:
        raise ValueError(
            f"expected length >= 1, num_templates >= 1, flip_prob in [0, 0.5]; got "
            f"{length}, {num_templates}, {flip_prob}"
        )
    templates = torch.randint(
        2, (num_templates, length), generator=torch.Generator().manual_seed(seed)
    )
    dev = generator.device if generator is not None else torch.device("cpu")
    k = torch.randint(num_templates, (n,), generator=generator, device=dev)
    flips = torch.rand(n, length, generator=generator, device=dev) < flip_prob
    return (templates.to(dev)[k] ^ flips.long()).float()
