"""One likelihood per observation model, serving decoders and autoregressive models alike."""

import pyro.distributions as dist
import pytest
import torch

from pyrogen.models import VAE, Bernoulli, DecoderForm, Gaussian, PixelCNN, get_likelihood


def test_one_likelihood_gives_the_same_density_in_both_forms():
    """The decoder's distribution and the per-position log-density are one density: a
    decoder output (N, P * D) and the same numbers as (N, P, D) give the same log p(x)."""
    g = torch.Generator().manual_seed(0)
    x_bin = torch.randint(0, 2, (4, 6), generator=g).float()
    x_real = torch.randn(4, 6, generator=g)
    for likelihood, x in ((Bernoulli(), x_bin), (Gaussian(), x_real), (Gaussian("exp"), x_real)):
        p = likelihood.params_per_value
        params = torch.randn(4, p * 6, generator=g)
        as_decoder = likelihood.dist(params, 1).log_prob(x)  # (N,)
        as_positions = likelihood.log_prob(params.view(4, p, 6), x).sum(-1)
        torch.testing.assert_close(as_decoder, as_positions)


def test_the_gaussian_forms_agree_with_torch():
    loc, raw = torch.randn(5), torch.randn(5)
    x = torch.randn(5)
    expected = dist.Normal(loc, torch.nn.functional.softplus(raw) + 1e-3).log_prob(x)
    got = Gaussian().log_prob(torch.stack([loc, raw])[None], x[None])[0]
    torch.testing.assert_close(got, expected)


def test_a_likelihood_without_the_form_a_model_needs_is_refused_by_name():
    with pytest.raises(ValueError, match="categorical likelihood has no decoder form"):
        VAE((1, 4, 4), likelihood="categorical")
    with pytest.raises(ValueError, match="continuous_bernoulli likelihood has no autoregressive"):
        PixelCNN((1, 4, 4), likelihood="continuous_bernoulli")
    with pytest.raises(ValueError, match="unknown likelihood 'poisson'"):
        get_likelihood("poisson")
    assert get_likelihood("categorical", "autoregressive", num_classes=4).params_per_value == 4


class _Laplace(DecoderForm):
    """A user's decoder likelihood: Laplace(loc, softplus(raw)) per value."""

    name = "laplace"
    params_per_value = 2

    def dist(self, params, event_dim):
        loc, raw = params.chunk(2, dim=params.dim() - event_dim)
        scale = torch.nn.functional.softplus(raw) + 1e-3
        return dist.Laplace(loc, scale, validate_args=False).to_event(event_dim)

    def mean(self, params, event_dim):
        return params.chunk(2, dim=params.dim() - event_dim)[0]


def test_a_users_likelihood_takes_the_role_of_the_form_it_implements():
    """A decoder-form likelihood of the user's serves a VAE and is refused, by name, by an
    autoregressive model; a form left unimplemented cannot even be built."""
    vae = VAE((1, 4, 4), z_dim=2, hidden=(8,), likelihood=_Laplace())
    x = torch.randn(3, 1, 4, 4)
    assert vae.likelihood.dist(vae.decode(torch.zeros(3, 2)), 3).log_prob(x).shape == (3,)
    with pytest.raises(ValueError, match="laplace likelihood has no autoregressive form"):
        PixelCNN((1, 4, 4), likelihood=_Laplace())

    class NoMean(DecoderForm):
        name = "no_mean"

        def dist(self, params, event_dim):
            return dist.Normal(params, 1.0).to_event(event_dim)

    with pytest.raises(TypeError, match="mean"):
        NoMean()
