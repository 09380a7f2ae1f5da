r"""Walks and arithmetic in a generator's latent space: lerp, slerp and attribute vectors.

Radford et al. (2016, Sec. 6) probe what a GAN's latent space has learned in two ways:
interpolating between two latents ``z0, z1`` and decoding the path (a smooth change of the
image, no sudden jumps, suggests the generator has not memorised), and *vector arithmetic*:
the mean latent of images with an attribute minus the mean of images without it is a
direction that adds the attribute to other latents ("smiling woman - neutral woman + neutral
man = smiling man"). White (2016) points out that for a Gaussian prior in d dimensions almost
all the mass lies near the sphere of radius ``sqrt(d)``, while the midpoint of a straight line
between two draws has norm about ``sqrt(d / 2)``: a linear path leaves the region the
generator was trained on. Spherical interpolation (Shoemake 1985) follows the great circle::

    lerp(z0, z1; t)  = (1 - t) z0 + t z1
    slerp(z0, z1; t) = sin((1 - t) theta) / sin(theta) z0 + sin(t theta) / sin(theta) z1,
    theta = angle(z0, z1),

which keeps a constant norm ``r`` when both ends have norm ``r`` and turns at constant angular
speed. These functions are plain tensor maths; decode their output with the generator, e.g.
``Generator.generate(z)`` or ``pyro.condition(generator.model, data={"z": z})``.

References:
    Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
    Networks, A. Radford, L. Metz, S. Chintala, 2016, Sec. 6.1 (walking in the latent space)
    and 6.3.2 (vector arithmetic). https://arxiv.org/abs/1511.06434
    Sampling Generative Networks, T. White, 2016, Sec. 2.1 (spherical interpolation).
    https://arxiv.org/abs/1609.04468
    Animating Rotation with Quaternion Curves, K. Shoemake, 1985, SIGGRAPH, Sec. 3.3.
    https://doi.org/10.1145/325165.325242
"""

from __future__ import annotations

import math

import torch

# Below this angle (radians) slerp returns the lerp: the two differ by O(theta^2) relative,
# far below float32 resolution, and sin(theta) -> 0 would divide 0 by 0.
_PARALLEL = 1e-4


def _check_pair(z0: torch.Tensor, z1: torch.Tensor, steps: int, what: str) -> None:
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ValueError(f"{what}: steps must be an int >= 2 (both ends included), got {steps!r}")
    if z0.dim() < 1 or z0.shape != z1.shape:
        raise ValueError(
            f"{what}: z0 and z1 must have the same shape (..., D), got {tuple(z0.shape)} and "
            f"{tuple(z1.shape)}"
        )
    if not (torch.isfinite(z0).all() and torch.isfinite(z1).all()):
        raise ValueError(f"{what}: z0 and z1 must be finite")


def _times(z: torch.Tensor, steps: int) -> torch.Tensor:
    """``t = 0, 1/(steps-1), ..., 1`` shaped ``(steps, 1, ..., 1)`` to broadcast against z."""
    t = torch.linspace(0.0, 1.0, steps, dtype=z.dtype, device=z.device)
    return t.reshape(steps, *([1] * z.dim()))


def lerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    r"""Linear interpolation ``(1 - t) z0 + t z1`` at ``steps`` evenly spaced ``t`` in [0, 1].

    Args:
        z0: start latent(s) ``(..., D)``.
        z1: end latent(s), same shape.
        steps: number of points, both ends included (>= 2).

    Returns:
        ``(steps, ..., D)``; entry 0 is ``z0`` and entry ``steps - 1`` is ``z1``.

    Example:
        >>> lerp(torch.tensor([0.0, 2.0]), torch.tensor([4.0, 2.0]), 3)
        tensor([[0., 2.],
                [2., 2.],
                [4., 2.]])

    References:
        Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
        Networks, A. Radford, L. Metz, S. Chintala, 2016, Sec. 6.1.
        https://arxiv.org/abs/1511.06434
    """
    _check_pair(z0, z1, steps, "lerp")
    t = _times(z0, steps)
    out = (1 - t) * z0 + t * z1
    out[0], out[-1] = z0, z1  # exact ends, whatever the rounding of (1 - t) z0 + t z1
    return out


def angle(z0: torch.Tensor, z1: torch.Tensor) -> torch.Tensor:
    r"""The angle between ``z0`` and ``z1`` over the last dimension, in [0, pi]: ``(...)``.

    Computed as ``2 atan2(||u0 - u1||, ||u0 + u1||)`` of the unit vectors, which stays accurate
    for nearly parallel and nearly opposite vectors, where ``acos(u0 . u1)`` loses half the
    digits. A zero vector has angle 0 to everything.
    """
    n0, n1 = z0.norm(dim=-1, keepdim=True), z1.norm(dim=-1, keepdim=True)
    tiny = torch.finfo(z0.dtype).tiny
    u0, u1 = z0 / n0.clamp_min(tiny), z1 / n1.clamp_min(tiny)
    theta = 2 * torch.atan2((u0 - u1).norm(dim=-1), (u0 + u1).norm(dim=-1))
    zero = (n0 == 0) | (n1 == 0)
    return torch.where(zero.squeeze(-1), torch.zeros_like(theta), theta)


def slerp(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    r"""Spherical interpolation ``[sin((1-t) theta) z0 + sin(t theta) z1] / sin(theta)``.

    With ``theta`` the angle between ``z0`` and ``z1``. For two vectors of the same norm ``r``
    the path is the arc of the great circle through them: every point has norm ``r`` and
    consecutive points are ``theta / (steps - 1)`` apart. For norms ``r0 != r1`` the formula is
    applied as it stands (as in White 2016); for orthogonal ``z0 = r0 u0`` and ``z1 = r1 u1``
    the path is the quarter ellipse ``r0 cos(t pi / 2) u0 + r1 sin(t pi / 2) u1``, whose norm
    moves from ``r0`` to ``r1``, not linearly. Vectors
    closer than 1e-4 rad in angle (parallel, equal, or zero) get the linear interpolation,
    which the formula tends to as ``theta -> 0``; exactly opposite vectors have no unique
    great circle and raise ``ValueError``.

    Args:
        z0: start latent(s) ``(..., D)``; a batch of pairs interpolates pair by pair.
        z1: end latent(s), same shape.
        steps: number of points, both ends included (>= 2).

    Returns:
        ``(steps, ..., D)``; entry 0 is ``z0`` and entry ``steps - 1`` is ``z1``.

    Example:
        >>> out = slerp(torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0]), 3)
        >>> out.round(decimals=4)
        tensor([[1.0000, 0.0000],
                [0.7071, 0.7071],
                [0.0000, 1.0000]])

    References:
        Sampling Generative Networks, T. White, 2016, Sec. 2.1.
        https://arxiv.org/abs/1609.04468
        Animating Rotation with Quaternion Curves, K. Shoemake, 1985, Sec. 3.3.
        https://doi.org/10.1145/325165.325242
    """
    _check_pair(z0, z1, steps, "slerp")
    theta = angle(z0, z1).unsqueeze(-1)  # (..., 1)
    if bool((theta > math.pi - _PARALLEL).any()):
        raise ValueError(
            "slerp: z0 and z1 point in opposite directions, so no unique great circle joins "
            "them; perturb one of them or use lerp"
        )
    t = _times(z0, steps)  # (steps, 1, ..., 1)
    parallel = theta < _PARALLEL
    # Where parallel, any non-zero sin(theta) keeps the unused branch finite (and its grads).
    sin_theta = torch.where(parallel, torch.ones_like(theta), torch.sin(theta))
    w0 = torch.sin((1 - t) * theta) / sin_theta
    w1 = torch.sin(t * theta) / sin_theta
    out = torch.where(parallel, (1 - t) * z0 + t * z1, w0 * z0 + w1 * z1)
    out[0], out[-1] = z0, z1
    return out


def attribute_vector(z_with: torch.Tensor, z_without: torch.Tensor) -> torch.Tensor:
    r"""The attribute direction ``v = mean(z_with) - mean(z_without)`` (Radford et al. 2016).

    Args:
        z_with: latents whose decoded images show the attribute ``(N, D)``.
        z_without: latents whose decoded images lack it ``(M, D)``.

    Returns:
        ``v`` of shape ``(D,)``. Averaging several latents per group, rather than taking one
        pair, cancels what the examples of a group do not share (the paper averages 3).

    References:
        Unsupervised Representation Learning with Deep Convolutional Generative Adversarial
        Networks, A. Radford, L. Metz, S. Chintala, 2016, Sec. 6.3.2, Fig. 7.
        https://arxiv.org/abs/1511.06434
    """
    for name, z in (("z_with", z_with), ("z_without", z_without)):
        if z.dim() != 2 or z.shape[0] < 1:
            raise ValueError(f"{name} must have shape (N, D) with N >= 1, got {tuple(z.shape)}")
    if z_with.shape[1] != z_without.shape[1]:
        raise ValueError(
            f"z_with and z_without must share the latent size D, got {z_with.shape[1]} and "
            f"{z_without.shape[1]}"
        )
    return z_with.mean(0) - z_without.mean(0)


def apply_attribute(z: torch.Tensor, v: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
    r"""``z + scale * v``: adds (``scale > 0``) or removes (``scale < 0``) an attribute.

    Args:
        z: latents ``(..., D)``.
        v: an attribute direction ``(D,)``, e.g. from :func:`attribute_vector`.
        scale: how far to move along ``v``.

    Returns:
        ``(..., D)``. For a linear generator ``G(z) = W z + b`` the result decodes to
        ``G(z) + scale * W v``, i.e. latent and pixel arithmetic agree; for a deep generator
        they need not, which is what makes latent arithmetic informative.
    """
    if v.dim() != 1 or z.dim() < 1 or z.shape[-1] != v.shape[0]:
        raise ValueError(
            f"apply_attribute expects z (..., D) and v (D,), got {tuple(z.shape)} and "
            f"{tuple(v.shape)}"
        )
    return z + scale * v
