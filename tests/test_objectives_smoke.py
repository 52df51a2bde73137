"""Every objective (ll, adv with a neural or a circuit discriminator, mmd, pae and the baselines gan, mmdgan, vae) trains
2 epochs on a digits subset on CPU without NaNs."""
import math
from dataclasses import replace

import pytest
import torch

from pcdiff.data import load_digits
from pcdiff.train import TrainConfig, train
from pcdiff.objectives import build

SMALL = dict(depth=2, repetitions=2, sums=4, leaves=4, batch_size=100, samples=0, device='cpu', lr=0.01)
KW = {'ll': {}, 'adv': {}, 'mmd': dict(d_steps=2), 'pae': dict(latent_dim=4),
      'gan': {}, 'mmdgan': dict(d_steps=2), 'vae': {}}
CASES = {**{k: (k, kw) for k, kw in KW.items()}, 'adv-circuit': ('adv', dict(discriminator='circuit'))}


@pytest.fixture(scope='module')
def digits():
    d = load_digits()
    return replace(d, train=d.train[:400], train_labels=d.train_labels[:400])


@pytest.mark.parametrize('case', list(CASES))
def test_two_epochs_without_nan(digits, case):
    name, kw = CASES[case]
    torch.manual_seed(0)
    cfg = TrainConfig(objective=name, epochs=2, objective_kwargs=kw, **SMALL)
    obj, model = build(cfg, digits)
    r = train(cfg, data=digits, model=model, objective=obj, progress=False)
    assert len(r.history) == 2
    for h in r.history: assert math.isfinite(h['train_loss']) and math.isfinite(h['valid_ll'])
    assert all(torch.isfinite(p).all() for p in model.parameters())
    x = model.sample(8, seed=0)
    assert x.shape == (8, 64) and torch.isfinite(x).all()
