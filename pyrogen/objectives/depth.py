r"""Robust location baselines: coordinate-wise median, halfspace (Tukey) depth and its median.

Tukey's depth of a point y in data :math:`x_1, \dots, x_n` is the smallest fraction of the data
in a closed halfspace whose boundary passes through y,

.. math:: D(y) = \min_{\|u\| = 1} \frac{1}{n} \#\{i : u^\top x_i \ge u^\top y\},

and the Tukey median is a point of maximal depth. Computing it exactly is hard beyond p = 2, so
here the minimum runs over a finite set of K directions (random directions: Cuesta-Albertos &
Nieto-Reyes 2008). That approximate depth is never below the exact one, and the approximate
median maximizes it exactly: the points of approximate depth at least m/n form the polytope
:math:`\{y : s_k^{(m)} \le u_k^\top y \le s_k^{(n-m+1)}\}` (:math:`s_k^{(j)}` the j-th smallest
projection on :math:`u_k`), so a binary search over m with a linear feasibility program finds
the deepest one, and its Chebyshev centre is returned. Half of the default directions are
uniform on the sphere, half join random pairs of data points, which points them along the
contamination as well (directions through data points are the classical choice of exact
algorithms, Rousseeuw & Struyf 1998).

In p = 1 the only direction is exact, the depth is :math:`\min(\#\{x_i \ge y\}, \#\{x_i \le
y\})/n` and the median is the sample median.

References:
    Mathematics and the picturing of data, J. W. Tukey, 1975, Proc. ICM Vancouver.
    The random Tukey depth, J. A. Cuesta-Albertos, A. Nieto-Reyes, 2008, Comput. Stat. Data
    Anal. 52(11).
    Computing location depth and regression depth in higher dimensions, P. J. Rousseeuw,
    A. Struyf, 1998, Stat. Comput. 8.
    Robust Estimation and Generative Adversarial Nets, C. Gao, J. Liu, Y. Yao, W. Zhu, 2019,
    sec. 2 (Tukey's median attains the minimax rate but is intractable).
    https://arxiv.org/abs/1810.02030
"""

from __future__ import annotations

import numpy as np
import torch


def _check_data(x: torch.Tensor, name: str = "x") -> None:
    if not isinstance(x, torch.Tensor) or x.dim() != 2 or not x.is_floating_point():
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"{name} must be a floating tensor of shape (n, p), got {got}")
    if x.shape[0] < 1 or not torch.isfinite(x).all():
        raise ValueError(f"{name} must hold at least one row of finite values")


def coordinate_median(x: torch.Tensor) -> torch.Tensor:
    r"""The median of each coordinate, :math:`\hat\theta_j = \mathrm{median}_i\, x_{ij}`.

    For even n the two middle values are averaged (``torch.median`` would return the lower).

    Args:
        x: data ``(n, p)``.

    Returns:
        ``(p,)``.

    Example:
        >>> coordinate_median(torch.tensor([[0.0, 5.0], [1.0, -1.0], [2.0, 0.0], [9.0, 1.0]]))
        tensor([1.5000, 0.5000])
    """
    _check_data(x)
    return x.quantile(0.5, dim=0)


def depth_directions(
    x: torch.Tensor, num_directions: int = 500, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Unit directions ``(K, p)``: half uniform on the sphere, half along ``x_i - x_j`` for
    random pairs; the single direction ``[[1]]`` when p = 1.

    Args:
        x: data ``(n, p)``.
        num_directions: K.
        generator: torch random generator; the global one when ``None``.
    """
    _check_data(x)
    if isinstance(num_directions, bool) or not isinstance(num_directions, int):
        raise ValueError(f"num_directions must be a positive int, got {num_directions!r}")
    if num_directions < 1:
        raise ValueError(f"num_directions must be a positive int, got {num_directions!r}")
    n, p = x.shape
    if p == 1:
        return torch.ones(1, 1, dtype=x.dtype, device=x.device)
    u = torch.randn(num_directions, p, generator=generator, dtype=x.dtype, device=x.device)
    pairs = num_directions // 2
    i, j = torch.randint(n, (2, pairs), generator=generator, device=x.device)
    diff = x[i] - x[j]
    keep = diff.norm(dim=1) > 0  # a pair of equal points gives no direction
    u[:pairs][keep] = diff[keep]
    return u / u.norm(dim=1, keepdim=True)


def halfspace_depth(
    y: torch.Tensor,
    x: torch.Tensor,
    directions: torch.Tensor | None = None,
    num_directions: int = 500,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""Tukey depth :math:`\min_k \min(\#\{u_k^\top x_i \ge u_k^\top y\}, \#\{u_k^\top x_i \le
    u_k^\top y\}) / n` of each point of ``y`` over the directions :math:`u_k`.

    Exact in p = 1; in p >= 2 an upper bound on the exact depth that tightens as directions
    are added.

    Args:
        y: query points ``(m, p)``.
        x: data ``(n, p)``.
        directions: ``(K, p)`` directions (need not be unit); default
            :func:`depth_directions` of ``x``.
        num_directions: K for the default directions.
        generator: torch random generator for the default directions.

    Returns:
        Depths ``(m,)`` in [0, 1].

    Example:
        >>> x = torch.tensor([[1.0], [2.0], [3.0], [4.0], [5.0]])
        >>> halfspace_depth(torch.tensor([[3.0], [1.0], [2.5], [0.0]]), x)
        tensor([0.6000, 0.2000, 0.4000, 0.0000])
    """
    _check_data(x)
    _check_data(y, "y")
    if y.shape[1] != x.shape[1]:
        raise ValueError(f"y must have {x.shape[1]} columns like x, got shape {tuple(y.shape)}")
    if directions is None:
        directions = depth_directions(x, num_directions, generator)
    if directions.dim() != 2 or directions.shape[1] != x.shape[1]:
        raise ValueError(
            f"directions must have shape (K, {x.shape[1]}), got {tuple(directions.shape)}"
        )
    n = x.shape[0]
    proj_x = (x @ directions.T).T.contiguous().sort(dim=1).values  # (K, n) sorted
    proj_y = (y @ directions.T).T.contiguous()  # (K, m)
    # Closed halfspaces: a data point on the boundary counts on both sides. A few ulps of
    # slack keep it there when y is a data point whose projection was rounded differently.
    scale = proj_x.abs().amax(dim=1, keepdim=True) + proj_y.abs()
    slack = 16 * torch.finfo(x.dtype).eps * scale
    at_most = torch.searchsorted(proj_x, proj_y + slack, right=True)  # #{u'x <= u'y}, (K, m)
    at_least = n - torch.searchsorted(proj_x, proj_y - slack, right=False)  # #{u'x >= u'y}
    return torch.minimum(at_most, at_least).min(dim=0).values.to(x.dtype) / n


def tukey_median(
    x: torch.Tensor,
    directions: torch.Tensor | None = None,
    num_directions: int = 500,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""A point of maximal approximate Tukey depth (:func:`halfspace_depth` over the same
    directions): the Chebyshev centre of the deepest region.

    Args:
        x: data ``(n, p)``.
        directions: ``(K, p)`` directions; default :func:`depth_directions` of ``x``.
        num_directions: K for the default directions.
        generator: torch random generator for the default directions.

    Returns:
        ``(p,)`` in ``x``'s dtype.

    Example:
        >>> tukey_median(torch.tensor([[4.0], [1.0], [3.0], [100.0]]))
        tensor([3.5000])

    References:
        Mathematics and the picturing of data, J. W. Tukey, 1975.
        The random Tukey depth, J. A. Cuesta-Albertos, A. Nieto-Reyes, 2008.
    """
    try:
        from scipy.optimize import linprog
    except ImportError as e:  # scipy is an optional dependency of pyrogen
        raise ImportError(
            "tukey_median solves linear programs with scipy; pip install scipy"
        ) from e
    _check_data(x)
    if directions is None:
        directions = depth_directions(x, num_directions, generator)
    n, p = x.shape
    u = (directions / directions.norm(dim=1, keepdim=True)).double().cpu()
    s = (x.double().cpu() @ u.T).sort(dim=0).values.numpy()  # (n, K), column k sorted
    a = u.numpy()
    k = a.shape[0]
    # variables (y, r): maximize the radius r of a ball inside the region, lo <= u'y <= hi
    a_ub = np.vstack([np.hstack([a, np.ones((k, 1))]), np.hstack([-a, np.ones((k, 1))])])
    cost = np.zeros(p + 1)
    cost[-1] = -1.0
    bounds = [(None, None)] * p + [(0, None)]

    def centre(m: int) -> np.ndarray | None:
        """The Chebyshev centre of {y : depth >= m/n}, or None when that region is empty."""
        lo, hi = s[m - 1], s[n - m]
        if (lo > hi).any():
            return None
        res = linprog(cost, A_ub=a_ub, b_ub=np.concatenate([hi, -lo]), bounds=bounds)
        return res.x[:p] if res.status == 0 else None

    low, high = 1, (n + 1) // 2  # depth 1/n holds on the data's hull; no more than half
    best = centre(low)
    while low < high:
        mid = (low + high + 1) // 2
        found = centre(mid)
        if found is None:
            high = mid - 1
        else:
            low, best = mid, found
    if best is None:  # the hull is degenerate and the solver gave up on it
        raise ValueError("the data's directions leave no region of positive depth")
    return torch.as_tensor(best, dtype=x.dtype, device=x.device)
