r"""Toy 2-D densities for flows and GANs: Gaussian mixtures on a ring and a grid, two moons,
concentric rings and a checkerboard. Each is ``f(n, generator=None, ...) -> Tensor (n, 2)``,
drawn i.i.d. from the stated density with ``generator`` (on the generator's device).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


def _device(generator: torch.Generator | None) -> torch.device:
    return generator.device if generator is not None else torch.device("cpu")


def _check(n: int, **nonneg: float) -> None:
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    for key, value in nonneg.items():
        if not value >= 0:
            raise ValueError(f"{key} must be >= 0, got {value!r}")


def _mixture(
    centers: torch.Tensor, n: int, std: float, generator: torch.Generator | None
) -> torch.Tensor:
    dev = _device(generator)
    k = torch.randint(len(centers), (n,), generator=generator, device=dev)
    noise = torch.randn(n, 2, generator=generator, device=dev)
    return centers.to(dev)[k] + std * noise


def eight_gaussians_centers(radius: float = 2.0) -> torch.Tensor:
    r"""Means :math:`\mu_k = r(\cos(2\pi k/8), \sin(2\pi k/8))`, k = 0..7, as a (8, 2) tensor."""
    angle = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    return (radius * torch.stack([angle.cos(), angle.sin()], dim=1)).float()


def eight_gaussians(
    n: int, generator: torch.Generator | None = None, radius: float = 2.0, std: float = 0.02
) -> torch.Tensor:
    r"""Samples :math:`x \sim \frac18 \sum_{k=0}^{7} N(\mu_k, \sigma^2 I)`, means on a circle.

    Args:
        n: number of samples.
        generator: torch random generator; the global one when ``None``.
        radius: radius r of the circle of means (:func:`eight_gaussians_centers`).
        std: standard deviation sigma of each component.

    Returns:
        Tensor (n, 2).

    References:
        Unrolled Generative Adversarial Networks, L. Metz, B. Poole, D. Pfau, J. Sohl-Dickstein,
        2017, sec. 3.1 (ring of 8 Gaussians, radius 2, std 0.02).
        https://arxiv.org/abs/1611.02163
    """
    _check(n, radius=radius, std=std)
    return _mixture(eight_gaussians_centers(radius), n, std, generator)


def twenty_five_gaussians_centers(spacing: float = 2.0) -> torch.Tensor:
    r"""Means :math:`\mu_{ij} = s(i, j)`, i, j in {-2..2}, as a (25, 2) tensor (row-major)."""
    grid = spacing * torch.arange(-2, 3, dtype=torch.float32)
    return torch.cartesian_prod(grid, grid)


def twenty_five_gaussians(
    n: int, generator: torch.Generator | None = None, spacing: float = 2.0, std: float = 0.05
) -> torch.Tensor:
    r"""Samples :math:`x \sim \frac1{25} \sum_{i,j=-2}^{2} N(s(i, j), \sigma^2 I)`, a 5x5 grid.

    Args:
        n: number of samples.
        generator: torch random generator; the global one when ``None``.
        spacing: distance s between neighbouring means.
        std: standard deviation sigma of each component.

    Returns:
        Tensor (n, 2).

    References:
        PacGAN: The power of two samples in generative adversarial networks, Z. Lin, A. Khetan,
        G. Fanti, S. Oh, 2018, sec. 6 (2D-grid: means (-4 + 2i, -4 + 2j), std 0.05).
        https://arxiv.org/abs/1712.04086
    """
    _check(n, spacing=spacing, std=std)
    return _mixture(twenty_five_gaussians_centers(spacing), n, std, generator)


def two_moons(n: int, generator: torch.Generator | None = None, noise: float = 0.1) -> torch.Tensor:
    r"""Samples two interleaved half circles plus noise: with t ~ U(0, pi) and a fair coin,
    :math:`x = (\cos t, \sin t)` or :math:`x = (1 - \cos t, \tfrac12 - \sin t)`, then
    :math:`x + \epsilon`, :math:`\epsilon \sim N(0, \mathrm{noise}^2 I)`.

    Args:
        n: number of samples.
        generator: torch random generator; the global one when ``None``.
        noise: standard deviation of the added Gaussian noise.

    Returns:
        Tensor (n, 2); the upper moon has centre (0, 0), the lower one (1, 1/2), both radius 1.

    References:
        The same curves as ``sklearn.datasets.make_moons`` (scikit-learn, Pedregosa et al.,
        2011), with the moon of each point drawn at random.
    """
    _check(n, noise=noise)
    dev = _device(generator)
    t = math.pi * torch.rand(n, generator=generator, device=dev)
    lower = torch.rand(n, generator=generator, device=dev) < 0.5
    upper_xy = torch.stack([t.cos(), t.sin()], dim=1)
    lower_xy = torch.stack([1 - t.cos(), 0.5 - t.sin()], dim=1)
    x = torch.where(lower[:, None], lower_xy, upper_xy)
    return x + noise * torch.randn(n, 2, generator=generator, device=dev)


def rings(
    n: int,
    generator: torch.Generator | None = None,
    num_rings: int = 4,
    max_radius: float = 3.0,
    std: float = 0.05,
) -> torch.Tensor:
    r"""Samples concentric circles: ring k ~ U{1..K}, angle a ~ U(0, 2 pi), radius
    :math:`\rho = k R / K + \epsilon`, :math:`\epsilon \sim N(0, \sigma^2)`; x = rho (cos a, sin a).

    Args:
        n: number of samples.
        generator: torch random generator; the global one when ``None``.
        num_rings: number K of circles; radii R/K, 2R/K, ..., R.
        max_radius: radius R of the outer circle.
        std: standard deviation sigma of the radial noise.

    Returns:
        Tensor (n, 2).

    References:
        FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models,
        W. Grathwohl, R. T. Q. Chen, J. Bettencourt, I. Sutskever, D. Duvenaud, 2019, fig. 2
        (toy densities). https://arxiv.org/abs/1810.01367
    """
    _check(n, max_radius=max_radius, std=std)
    if num_rings < 1:
        raise ValueError(f"num_rings must be >= 1, got {num_rings}")
    dev = _device(generator)
    k = torch.randint(1, num_rings + 1, (n,), generator=generator, device=dev)
    rho = k * (max_radius / num_rings) + std * torch.randn(n, generator=generator, device=dev)
    a = 2 * math.pi * torch.rand(n, generator=generator, device=dev)
    return torch.stack([rho * a.cos(), rho * a.sin()], dim=1)


def checkerboard(
    n: int,
    generator: torch.Generator | None = None,
    num_cells: int = 4,
    half_width: float = 2.0,
) -> torch.Tensor:
    r"""Samples the uniform density on the dark squares of a checkerboard over :math:`[-h, h]^2`:
    :math:`p(x) = 2 / (2h)^2` on cells (i, j) with i + j even, 0 elsewhere (for an even count).

    Args:
        n: number of samples.
        generator: torch random generator; the global one when ``None``.
        num_cells: number of cells per side.
        half_width: h, half the side of the board.

    Returns:
        Tensor (n, 2); cell (i, j) spans [-h + i w, -h + (i + 1) w] x [-h + j w, ...], w = 2h/cells.

    References:
        FFJORD: Free-form Continuous Dynamics for Scalable Reversible Generative Models,
        W. Grathwohl et al., 2019, fig. 2 (toy densities). https://arxiv.org/abs/1810.01367
    """
    _check(n, half_width=half_width)
    if num_cells < 1:
        raise ValueError(f"num_cells must be >= 1, got {num_cells}")
    dev = _device(generator)
    ij = torch.cartesian_prod(torch.arange(num_cells), torch.arange(num_cells)).to(dev)
    dark = ij[(ij.sum(dim=1) % 2) == 0]  # (num_dark, 2)
    cell = dark[torch.randint(len(dark), (n,), generator=generator, device=dev)]
    width = 2 * half_width / num_cells
    offset = torch.rand(n, 2, generator=generator, device=dev)
    return -half_width + (cell + offset) * width


TOY_2D: dict[str, Callable[..., torch.Tensor]] = {
    "eight_gaussians": eight_gaussians,
    "twenty_five_gaussians": twenty_five_gaussians,
    "two_moons": two_moons,
    "rings": rings,
    "checkerboard": checkerboard,
}


def toy_2d(
    name: str, n: int, generator: torch.Generator | None = None, **kwargs: float
) -> torch.Tensor:
    """Samples ``n`` points (n, 2) from the toy density ``name`` (a key of :data:`TOY_2D`).

    Example:
        >>> import torch
        >>> toy_2d("eight_gaussians", 4, torch.Generator().manual_seed(0)).shape
        torch.Size([4, 2])
    """
    if name not in TOY_2D:
        raise ValueError(f"unknown toy density {name!r}; expected one of {', '.join(TOY_2D)}")
    return TOY_2D[name](n, generator, **kwargs)
