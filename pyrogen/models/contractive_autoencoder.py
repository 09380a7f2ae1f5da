r"""Contractive autoencoder (Rifai et al. 2011): reconstruction plus the squared Frobenius norm
of the encoder's Jacobian,

.. math::
    \mathcal{J}_{CAE} = \sum_x L(x, g(f(x))) + \lambda \|J_f(x)\|_F^2, \qquad
    \|J_f(x)\|_F^2 = \sum_{j, i} \Big(\frac{\partial h_j(x)}{\partial x_i}\Big)^2,

so that the code changes little when x moves a little (the encoder contracts the space around
the training points, except along the directions the data vary in).

For a single-layer encoder :math:`h = s(Wx + b)` with an elementwise s the Jacobian is
:math:`\mathrm{diag}(s'(Wx + b))\, W` and the penalty has the closed form
:math:`\sum_j s'_j(x)^2 \sum_i W_{ji}^2` (sigmoid: :math:`s' = h(1 - h)`; tanh:
:math:`1 - h^2`), O(code x D) per example. Deeper encoders use
:func:`jacobian_frobenius`, one reverse-mode pass per code unit, all batched.

References:
    Contractive Auto-Encoders: Explicit Invariance During Feature Extraction, S. Rifai,
    P. Vincent, X. Muller, X. Glorot, Y. Bengio, ICML 2011, Sec. 3 (the penalty and the
    objective). https://mlanthology.org/icml/2011/rifai2011icml-contractive/
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from pyrogen.models.autoencoder import Autoencoder, reconstruction_loss
from pyrogen.validation import check_positive_number


def jacobian_frobenius(
    fn: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    create_graph: bool | None = None,
) -> torch.Tensor:
    r"""Per-example :math:`\|\partial \mathrm{fn}(x)_b / \partial x_b\|_F^2` by autograd.

    ``fn`` must map each example on its own (no batch norm in training mode): row j of every
    example's Jacobian is the gradient of :math:`\sum_b \mathrm{fn}(x)_{b, j}`, and the K
    rows come from one batched reverse-mode pass.

    Args:
        fn: a map ``(B, D) -> (B, K)``, e.g. an encoder.
        x: inputs ``(B, D)``; their own gradient is not tracked (the penalty is
            differentiated with respect to ``fn``'s parameters).
        create_graph: keep the graph so the result can be differentiated (training); the
            default does so when gradients are enabled at the call.

    Returns:
        Tensor ``(B,)``.

    Example:
        >>> import torch
        >>> w = torch.tensor([[1.0, 2.0], [0.0, 3.0]])
        >>> jacobian_frobenius(lambda x: x @ w.T, torch.zeros(3, 2))  # 1 + 4 + 9
        tensor([14., 14., 14.])
    """
    if create_graph is None:
        create_graph = torch.is_grad_enabled()
    if x.dim() != 2:
        raise ValueError(f"jacobian_frobenius expects inputs (B, D), got {tuple(x.shape)}")
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        h = fn(x)
        if h.dim() != 2 or h.shape[0] != x.shape[0]:
            raise ValueError(
                f"jacobian_frobenius expects fn to map (B, D) to (B, K), got {tuple(h.shape)} "
                f"from {tuple(x.shape)}"
            )
        k = h.shape[1]
        # One cotangent per code unit j: e_j for every example, (K, B, K).
        basis = torch.eye(k, dtype=h.dtype, device=h.device).unsqueeze(1).expand(k, *h.shape)
        (rows,) = torch.autograd.grad(
            h, x, basis, create_graph=create_graph, is_grads_batched=True
        )  # (K, B, D): rows[j, b] = d h_{b, j} / d x_b
    out = rows.pow(2).sum(dim=(0, 2))
    return out if create_graph else out.detach()


class ContractiveAutoencoder(Autoencoder):
    r"""Autoencoder trained by :math:`L(x, g(f(x))) + \lambda \|J_f(x)\|_F^2` (Rifai et al. 2011).

    Same networks and arguments as :class:`~pyrogen.models.Autoencoder`, plus the penalty
    weight. With ``hidden=()`` (one encoder layer, as in the paper) the penalty is the closed
    form :math:`\sum_j s'_j(x)^2 \|W_j\|^2`; otherwise :func:`jacobian_frobenius`.

    Args:
        x_shape, code_dim, hidden, act, code_act, loss: see
            :class:`~pyrogen.models.Autoencoder`.
        weight: the penalty weight lambda >= 0 (0 gives the plain autoencoder).

    Example:
        >>> import torch
        >>> from pyrogen.models import ContractiveAutoencoder
        >>> _ = torch.manual_seed(0)
        >>> cae = ContractiveAutoencoder(5, code_dim=3, weight=0.1)
        >>> x = torch.randn(4, 5)
        >>> closed, by_autograd = cae.contractive_penalty(x), jacobian_frobenius(cae.encode, x)
        >>> bool(torch.allclose(closed, by_autograd))
        True

    References:
        Contractive Auto-Encoders: Explicit Invariance During Feature Extraction, S. Rifai,
        P. Vincent, X. Muller, X. Glorot, Y. Bengio, ICML 2011, Sec. 3.
        https://mlanthology.org/icml/2011/rifai2011icml-contractive/
    """

    def __init__(
        self,
        x_shape: int | Sequence[int],
        code_dim: int,
        hidden: Sequence[int] = (),
        act: str = "relu",
        code_act: str | None = "sigmoid",
        loss: str = "mse",
        weight: float = 0.1,
    ):
        super().__init__(x_shape, code_dim, hidden, act, code_act, loss)
        self.weight = check_positive_number(weight, "weight", allow_zero=True)

    def _closed_form(self, h: torch.Tensor) -> torch.Tensor:
        trunk = self.encoder[0]
        assert isinstance(trunk, nn.Sequential)
        linear = trunk[0]
        assert isinstance(linear, nn.Linear)  # hidden == (): the trunk is one affine map
        if self.code_act == "sigmoid":
            slope = h * (1 - h)
        elif self.code_act == "tanh":
            slope = 1 - h.pow(2)
        else:
            slope = torch.ones_like(h)
        return slope.pow(2) @ linear.weight.pow(2).sum(dim=1)  # (B, K) @ (K,) -> (B,)

    def contractive_penalty(self, x: torch.Tensor, h: torch.Tensor | None = None) -> torch.Tensor:
        r"""Per-example :math:`\|J_f(x)\|_F^2`, ``(B,)``, differentiable in the parameters.

        Args:
            x: inputs ``(B, *x_shape)``.
            h: their codes ``f(x)`` if already computed (used by the closed form only).
        """
        if not self.hidden:
            return self._closed_form(self.encode(x) if h is None else h)
        return jacobian_frobenius(self.encoder, x.flatten(1))

    def losses(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        r"""``{"loss", "recon", "contractive"}``: loss = recon + weight * contractive, each the
        batch mean of :math:`L(x, g(f(x)))` and :math:`\|J_f(x)\|_F^2`."""
        h = self.encode(x)
        recon = reconstruction_loss(x.flatten(1), self.decoder_output(h), self.loss).mean()
        penalty = self.contractive_penalty(x, h).mean()
        return {"loss": recon + self.weight * penalty, "recon": recon, "contractive": penalty}
