"""The reproduction runner on a torchvision image dataset the user has: tiny MNIST files written in the real format."""
import math, subprocess, sys

import torch

from pcdiff.data import _write_idx
from pcdiff.reproduce import image_config, run_cell


def _write_mnist(root, n_train=60, n_test=20):
    raw, g = root / 'MNIST' / 'raw', torch.Generator().manual_seed(0)
    for prefix, n in (('train', n_train), ('t10k', n_test)):
        _write_idx(raw / f'{prefix}-images-idx3-ubyte', torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8))
        _write_idx(raw / f'{prefix}-labels-idx1-ubyte', (torch.arange(n) % 10).to(torch.uint8))


def test_run_cell_on_mnist_files(tmp_path):
    _write_mnist(tmp_path / 'data')
    data = dict(dataset='mnist', root=str(tmp_path / 'data'), max_items=40)
    cfg = image_config(tmp_path / 'runs', 'seeds', 'll', 0.1, 16, epochs=1, data=data, depth=1, repetitions=1, sums=2, leaves=2)
    assert cfg.out == str((tmp_path / 'runs' / 'mnist' / 'seeds' / 'll-lr0.1-bs16-seed0').resolve())
    row = run_cell(cfg, num_samples=30)
    assert all(math.isfinite(row[k]) for k in ('bpd', 'fd', 'kid'))
    assert row['num_params'] > 0


def test_reproduce_needs_the_data_root(tmp_path):
    r = subprocess.run([sys.executable, '-m', 'pcdiff.cli', 'reproduce', 'grid', '--dataset', 'mnist', '--out', str(tmp_path)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and '--data-root is required for --dataset mnist' in r.stderr
