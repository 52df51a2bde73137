"""Image loaders of pcdiff.data read tiny files written in the real on-disk formats."""
import gzip, pickle

import numpy as np
import pytest
import torch
from PIL import Image
from scipy.io import savemat

from pcdiff.data import get_dataset, load_image_dataset, _write_idx


def _rand(shape, seed):
    return torch.randint(0, 256, shape, generator=torch.Generator().manual_seed(seed), dtype=torch.uint8)


def _write_cifar(root, n=4):
    folder = root / 'cifar-10-batches-py'
    folder.mkdir(parents=True)
    batches = {}
    for i, fn in enumerate([f'data_batch_{k}' for k in range(1, 6)] + ['test_batch']):
        x = _rand((n, 3 * 32 * 32), i).numpy()
        labels = [(i + j) % 10 for j in range(n)]
        with open(folder / fn, 'wb') as f:
            pickle.dump({'batch_label': fn, 'data': x, 'labels': labels, 'filenames': [f'{j}.png' for j in range(n)]}, f)
        batches[fn] = (x, labels)
    with open(folder / 'batches.meta', 'wb') as f:
        pickle.dump({'label_names': [str(k) for k in range(10)], 'num_vis': 3072, 'num_cases_per_batch': n}, f)
    return batches


def test_cifar10_pickled_batches(tmp_path):
    batches = _write_cifar(tmp_path)
    d = load_image_dataset('cifar10', tmp_path, verify=False, valid_fraction=0.25)
    assert (d.shape, d.max_value, d.num_classes) == ((3, 32, 32), 255, 10)
    assert (len(d.train), len(d.valid), len(d.test)) == (15, 5, 4)
    x_te, y_te = batches['test_batch']
    assert torch.equal(d.test, torch.from_numpy(x_te).long())  # CIFAR rows are already C*H*W ordered
    assert d.test_labels.tolist() == y_te
    train_rows = {tuple(r) for k in range(1, 6) for r in batches[f'data_batch_{k}'][0].tolist()}
    assert {tuple(r) for r in torch.cat([d.train, d.valid]).tolist()} == train_rows


def test_cifar10_checksum_refused(tmp_path):
    _write_cifar(tmp_path)
    with pytest.raises(ValueError, match='checksum mismatch.*data_batch_1'):
        load_image_dataset('cifar10', tmp_path)


def test_svhn_mat_files(tmp_path):
    xs = {}
    for i, split in enumerate(('train', 'test')):
        x = _rand((6, 3, 32, 32), 10 + i)  # (N, C, H, W)
        y = np.array([[10], [1], [2], [3], [4], [5]], dtype=np.uint8)  # digit 0 is stored as 10
        savemat(str(tmp_path / f'{split}_32x32.mat'), {'X': x.permute(2, 3, 1, 0).numpy(), 'y': y})
        xs[split] = x
    d = get_dataset('svhn', root=tmp_path, verify=False, valid_fraction=0.5)
    assert d.shape == (3, 32, 32)
    assert torch.equal(d.test, xs['test'].reshape(6, -1).long())
    assert d.test_labels.tolist() == [0, 1, 2, 3, 4, 5]
    assert (len(d.train), len(d.valid)) == (3, 3)
    with pytest.raises(ValueError, match='checksum mismatch'):
        get_dataset('svhn', root=tmp_path)


def test_fashion_mnist_gzipped_idx(tmp_path):
    raw = tmp_path / 'FashionMNIST' / 'raw'
    x_te = _rand((7, 28, 28), 3)
    for fn, t in [('train-images-idx3-ubyte', _rand((30, 28, 28), 2)), ('train-labels-idx1-ubyte', torch.arange(30) % 10),
                  ('t10k-images-idx3-ubyte', x_te), ('t10k-labels-idx1-ubyte', torch.arange(7) % 10)]:
        _write_idx(raw / fn, t.to(torch.uint8))
        (raw / (fn + '.gz')).write_bytes(gzip.compress((raw / fn).read_bytes()))
        (raw / fn).unlink()
    d = get_dataset('fashion-mnist', root=tmp_path, max_items=5, dtype=torch.uint8)
    assert d.train.dtype == torch.uint8 and d.shape == (1, 28, 28)
    assert (len(d.train), len(d.valid), len(d.test)) == (5, 3, 5)
    test_rows = [tuple(r) for r in x_te.reshape(7, -1).tolist()]
    assert all(tuple(r) in test_rows for r in d.test.tolist())


def _write_celeba(root, parts=(0, 0, 0, 0, 1, 1, 2, 2, 2)):
    folder = root / 'celeba' / 'img_align_celeba'
    folder.mkdir(parents=True)
    names = []
    for i, p in enumerate(parts):
        name = f'{i + 1:06d}.jpg'
        Image.fromarray(np.full((218, 178, 3), 20 * i, dtype=np.uint8)).save(folder / name, quality=95)
        names.append(f'{name} {p}')
    (root / 'celeba' / 'list_eval_partition.txt').write_text('\n'.join(names) + '\n')


def test_celeba_jpgs_and_partition(tmp_path):
    _write_celeba(tmp_path)
    d = load_image_dataset('celeba', tmp_path, verify=False)
    assert (d.shape, d.num_classes, d.train_labels) == ((3, 64, 64), None, None)
    assert (len(d.train), len(d.valid), len(d.test)) == (4, 2, 3)
    # flat gray images keep their value (JPEG is near-lossless on constant images)
    assert (d.train.float().mean(1) - torch.tensor([0., 20., 40., 60.])).abs().max() <= 2
    assert (d.test.float().mean(1) - torch.tensor([120., 140., 160.])).abs().max() <= 2
    small = load_image_dataset('celeba', tmp_path, verify=False, max_items=2, image_size=32)
    assert (small.train.shape, small.valid.shape, small.test.shape) == ((2, 3072), (2, 3072), (2, 3072))
    # the fake partition file does not match torchvision's MD5
    with pytest.raises(ValueError, match='list_eval_partition.txt'):
        load_image_dataset('celeba', tmp_path)


@pytest.mark.parametrize('name,expected', [('mnist', 'MNIST/raw/train-images-idx3-ubyte'),
                                           ('fashion-mnist', 'FashionMNIST/raw/t10k-labels-idx1-ubyte'),
                                           ('svhn', 'train_32x32.mat'), ('cifar10', 'cifar-10-batches-py/test_batch'),
                                           ('celeba', 'celeba/list_eval_partition.txt')])
def test_missing_files_name_root_and_files(tmp_path, name, expected):
    with pytest.raises(FileNotFoundError) as e:
        get_dataset(name, root=tmp_path)
    assert str(tmp_path) in str(e.value) and expected in str(e.value)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='`root` is required'):
        get_dataset('mnist')
    with pytest.raises(ValueError, match='known datasets'):
        get_dataset('cifar100', root=tmp_path)
    with pytest.raises(ValueError, match='max_items'):
        load_image_dataset('mnist', tmp_path, max_items=0)
    with pytest.raises(ValueError, match='valid_fraction'):
        load_image_dataset('mnist', tmp_path, valid_fraction=1.5)
