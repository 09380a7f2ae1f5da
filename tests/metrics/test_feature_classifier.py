import torch

from pyrogen.metrics import fid, inception_score, load_or_train_classifier


def _toy_images(n, g):
    # Class k lights up quadrant k of an 8x8 image: easy to classify.
    y = torch.randint(0, 4, (n,), generator=g)
    x = 0.1 * torch.rand(n, 1, 8, 8, generator=g)
    for k, (r, c) in enumerate([(0, 0), (0, 4), (4, 0), (4, 4)]):
        x[y == k, :, r : r + 4, c : c + 4] += 0.9
    return x, y


def test_classifier_learns_is_cached_and_feeds_fid_and_is(tmp_path):
    g = torch.Generator().manual_seed(0)
    x, y = _toy_images(512, g)
    clf = load_or_train_classifier(x, y, tmp_path, name="toy", epochs=15, lr=3e-3)
    assert (tmp_path / "classifier_toy.pt").exists()
    with torch.no_grad():
        assert float((clf(x).argmax(-1) == y).float().mean()) > 0.95
    again = load_or_train_classifier(x, y, tmp_path, name="toy", epochs=0)
    assert torch.allclose(again.features(x), clf.features(x))
    # Confident, balanced predictions give an inception score near K = 4; one class gives 1.
    assert inception_score(x, clf) > 3.5
    assert inception_score(x[y == 0], clf) < 1.2
    # FID in classifier features: two halves of the data are close, one class is far.
    x2, y2 = _toy_images(512, g)
    assert float(fid(x, x2, features=clf.features)) < 0.2 * float(
        fid(x, x2[y2 == 0], features=clf.features)
    )
