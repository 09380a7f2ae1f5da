import torch
from torch.utils._python_dispatch import TorchDispatchMode

from pyrogen.infer.fast_elbo import VAEObjective
from pyrogen.metrics import log_likelihood
from pyrogen.models import VAE


class _LargestTensor(TorchDispatchMode):
    """Records the largest number of elements of any tensor an operator produced."""

    def __init__(self):
        super().__init__()
        self.numel = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.numel = max(self.numel, t.numel())
        return out


def _largest(vae, x, num_samples, chunk_size):
    with _LargestTensor() as mode:
        log_likelihood(vae, x, num_samples=num_samples, batch_size=5, chunk_size=chunk_size)
    return mode.numel


def test_is_memory_is_bounded_by_the_chunk_not_the_number_of_samples():
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,))
    x = torch.rand(10, 1, 8, 8).bernoulli()
    small = _largest(vae, x, num_samples=40, chunk_size=8)
    many = _largest(vae, x, num_samples=160, chunk_size=8)
    bigger_chunk = _largest(vae, x, num_samples=40, chunk_size=32)
    # The largest tensor is one chunk's decoder output (chunk, batch, 1, 8, 8).
    assert small == many == 8 * 5 * 64
    assert bigger_chunk == 32 * 5 * 64


def test_chunked_iwae_has_the_same_value_and_gradient_in_bounded_memory():
    torch.manual_seed(0)
    vae = VAE((1, 8, 8), z_dim=3, hidden=(16,)).double()
    x = torch.rand(5, 1, 8, 8, dtype=torch.float64).bernoulli()
    results = []
    for chunk in (None, 4):
        objective = VAEObjective(vae, kind="iwae", num_particles=20, particle_chunk=chunk)
        vae.zero_grad()
        torch.manual_seed(1)
        with _LargestTensor() as mode:
            loss = objective(x)
            loss.backward()
        grads = [p.grad.clone() for p in vae.parameters()]
        results.append((loss.detach(), grads, mode.numel))
    (v1, g1, n1), (v2, g2, n2) = results
    assert torch.allclose(v1, v2, rtol=1e-12)
    assert all(torch.allclose(a, b, rtol=1e-10, atol=1e-12) for a, b in zip(g1, g2))
    # Largest tensors: the decoder output, (K, B, 1, 8, 8) whole vs (chunk, B, 1, 8, 8).
    assert n1 == 20 * 5 * 64 and n2 == 4 * 5 * 64
