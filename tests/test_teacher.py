"""The teacher trains on MNIST-shaped idx files written by the test: 28x28 images, 256 values, 4x4 and 7x7 patches."""
import json, math
from dataclasses import replace

import pytest
import torch

from pcdiff.data import _write_idx, get_dataset, load_digits
from pcdiff.teacher import Teacher, TeacherConfig, teacher_elbo_bpd, train_teacher


def _write_mnist(root, n_train=80, n_test=16, seed=0):
    "Blocky images: a random 7x7 binary pattern, each cell a 4x4 square of 0 or 255 (one patch of 4x4 each)."
    g = torch.Generator().manual_seed(seed)
    raw = root / 'MNIST' / 'raw'
    for prefix, n in [('train', n_train), ('t10k', n_test)]:
        cells = torch.randint(0, 2, (n, 7, 7), generator=g, dtype=torch.uint8) * 255
        _write_idx(raw / f'{prefix}-images-idx3-ubyte', cells.repeat_interleave(4, 1).repeat_interleave(4, 2))
        _write_idx(raw / f'{prefix}-labels-idx1-ubyte', (torch.arange(n) % 10).to(torch.uint8))


def test_teacher_on_mnist_files(tmp_path):
    _write_mnist(tmp_path)
    cfg = TeacherConfig(dataset='mnist', root=str(tmp_path), patch=4, codebook_size=8, embed_dim=4, width=32,
                        epochs=6, batch_size=16, lr=5e-3, device='cpu', out=str(tmp_path / 'run'))
    r = train_teacher(cfg, progress=False)
    t = r.teacher
    assert (t.image_shape, t.num_patches, t.patch_dim, t.max_value) == ((1, 28, 28), 49, 16, 255)
    data = get_dataset('mnist', root=tmp_path)
    assert t.embed(data.test).shape == (16, 49, 4) and t.encode(data.test).shape == (16, 49)
    recon = [e['valid_recon_bpd'] for e in r.history]
    assert recon[-1] < 0.5 * recon[0], recon                   # two patch kinds: learned well within a few epochs
    for prior in ('uniform', 'learned'):
        assert all(math.isfinite(r.test[prior][k]) for k in ('recon_bpd', 'prior_bpd', 'bpd', 'marginal_bpd'))
    assert json.loads((tmp_path / 'run' / 'result.json').read_text())['test']['learned'] == pytest.approx(r.test['learned'])
    loaded = Teacher.load(tmp_path / 'run' / 'teacher.pt')
    loaded.check_data(data)
    assert teacher_elbo_bpd(loaded, data.test, 'learned') == pytest.approx(r.test['learned'])
    digits = load_digits()
    with pytest.raises(ValueError, match=r"image_shape \[1, 8, 8\] \(teacher: \[1, 28, 28\]\)"):
        loaded.check_data(digits)
    with pytest.raises(ValueError, match=r'must have shape \(N, 784\): this teacher was trained on mnist'):
        loaded.encode(digits.test)
    with pytest.raises(ValueError, match='differs in .*patch'):
        train_teacher(replace(cfg, patch=7, resume=True), progress=False)
    seven = train_teacher(replace(cfg, patch=7, epochs=1, out=None), progress=False).teacher
    assert seven.encode(data.test).shape == (16, 16)
    with pytest.raises(ValueError, match='patch=5 must divide'):
        train_teacher(replace(cfg, patch=5, out=None), progress=False)
