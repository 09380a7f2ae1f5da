r"""PixelCNN with PixelCNN++'s discretized logistic mixture likelihood per sub-pixel.

p(x) = prod_{r, c, k} sum_m pi_m [sigma((x + h - mu_m) / s_m) - sigma((x - h - mu_m) / s_m)],
the mixture parameters of every sub-pixel coming from the masked-convolution network of
:class:`~pyrogen.models.PixelCNN`. Only the likelihood is PixelCNN++'s: the channel
dependencies are carried by the masked network (channel groups) rather than by PixelCNN++'s
linear mean coupling, and the down/up-sampling architecture is not reproduced.

References:
    PixelCNN++: Improving the PixelCNN with Discretized Logistic Mixture Likelihood and Other
    Modifications, T. Salimans, A. Karpathy, X. Chen, D. P. Kingma, 2017, eq. (2).
    https://arxiv.org/abs/1701.05517
"""

from __future__ import annotations

from collections.abc import Sequence

from pyrogen.models.discretized_logistic import DiscretizedLogisticMixture
from pyrogen.models.pixelcnn import PixelCNN


class PixelCNNpp(PixelCNN):
    r"""PixelCNN over images with values k / (num_bins - 1) and a logistic-mixture likelihood.

    Args:
        x_shape: ``(C, H, W)``.
        num_mixtures: K logistic components per sub-pixel.
        num_bins: discrete levels (256 for 8-bit images, 2 for binary ones).
        channels, num_layers, kernel_size, first_kernel: as for :class:`PixelCNN`.

    Example:
        >>> import torch
        >>> from pyrogen.models import PixelCNNpp
        >>> _ = torch.manual_seed(0)
        >>> m = PixelCNNpp((1, 4, 4), num_mixtures=3, num_bins=256, channels=8, num_layers=1)
        >>> x = m.sample(2)
        >>> bool(((x * 255).round() == x * 255).all()), m(x).shape
        (True, torch.Size([2, 9, 1, 4, 4]))

    References:
        PixelCNN++, T. Salimans et al., 2017, eq. (2). https://arxiv.org/abs/1701.05517
    """

    def __init__(
        self,
        x_shape: Sequence[int] = (1, 28, 28),
        num_mixtures: int = 5,
        num_bins: int = 256,
        channels: int = 64,
        num_layers: int = 5,
        kernel_size: int = 3,
        first_kernel: int = 7,
    ):
        super().__init__(
            x_shape,
            channels=channels,
            num_layers=num_layers,
            kernel_size=kernel_size,
            first_kernel=first_kernel,
            likelihood=DiscretizedLogisticMixture(num_mixtures, num_bins),
        )
