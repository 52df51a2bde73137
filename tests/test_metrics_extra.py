"""Extra checks of pcdiff.metrics beyond the notebook: KID against brute force for several seeds,
cache behaviour of the feature CNN, and the Inception-v3 path with locally saved (random) weights."""
import math

import pytest
import torch

from pcdiff.data import Dataset
from pcdiff.metrics import (InceptionFeatures, extract_features, feature_cnn, frechet_distance,
                            get_feature_extractor, kernel_inception_distance, sample_distances)


@pytest.mark.parametrize('seed', [0, 1, 2])
def test_kid_brute_force(seed):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(6, 4, generator=g, dtype=torch.float64), torch.randn(6, 4, generator=g, dtype=torch.float64) * 2
    k = lambda a, b: (float(a @ b) / 4 + 1) ** 3
    n = len(x)
    brute = (sum(k(x[i], x[j]) + k(y[i], y[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
             - 2 * sum(k(x[i], y[j]) for i in range(n) for j in range(n)) / n ** 2)
    assert math.isclose(kernel_inception_distance(x, y, num_subsets=1, subset_size=100)[0], brute, rel_tol=1e-12)


def test_fd_is_symmetric_and_shift_sensitive():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(500, 8, generator=g), torch.randn(500, 8, generator=g) * 1.5
    assert math.isclose(frechet_distance(a, b), frechet_distance(b, a), rel_tol=1e-9)
    # shifting every feature by 1 adds exactly d to the distance of a set with itself
    assert math.isclose(frechet_distance(a, a + 1), 8.0, rel_tol=1e-6)


def _tiny_images(n=60, seed=0):
    "A labelled 3-class set of 1x4x4 images: class k has bright row k."
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    x = torch.randint(0, 4, (n, 1, 4, 4), generator=g)
    x[torch.arange(n), 0, y] += 12
    return x.reshape(n, -1), y


def _tiny_dataset():
    (xt, yt), (xv, yv), (xs, ys) = _tiny_images(60, 0), _tiny_images(15, 1), _tiny_images(30, 2)
    return Dataset('tiny', xt, xv, xs, yt, yv, ys, shape=(1, 4, 4), num_classes=3, max_value=15)


def test_feature_cnn_cache_env_and_missing_checksum(tmp_path, monkeypatch):
    monkeypatch.setenv('PCDIFF_CACHE', str(tmp_path))
    data = _tiny_dataset()
    m = feature_cnn(data, epochs=5)
    assert not m.from_cache and m.test_accuracy > 0.9
    (pt,) = tmp_path.glob('feature_cnn_tiny_*.pt')
    assert feature_cnn(data, epochs=5).from_cache
    pt.with_name(pt.name + '.sha256').unlink()  # no checksum: retrain
    assert not feature_cnn(data, epochs=5).from_cache
    assert not feature_cnn(data, epochs=6).from_cache  # other settings, other file
    assert len(list(tmp_path.glob('*.pt'))) == 2
    d = sample_distances(m, data.test, data.test, num_subsets=3, subset_size=20)
    assert d['fd'] < 1e-6 and abs(d['kid']) < 1e-2


def test_inception_features_from_local_file(tmp_path):
    from torchvision.models import inception_v3
    torch.manual_seed(0)
    path = tmp_path / 'inception.pth'
    torch.save(inception_v3(weights=None, aux_logits=True, init_weights=False).state_dict(), path)
    data = _tiny_dataset()
    ext = get_feature_extractor(data, inception_weights=path)
    assert isinstance(ext, InceptionFeatures)
    f = extract_features(ext, data.test[:2])
    assert f.shape == (2, 2048) and torch.isfinite(f).all()


def test_inception_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nothere.pth'):
        get_feature_extractor(_tiny_dataset(), inception_weights=tmp_path / 'nothere.pth')
