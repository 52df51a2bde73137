"""Objectives: GAN moves samples toward the data (2-D), PAE reconstructs better after training, learned temperatures
train, LL-weighted and init_from fine-tuning, checks on bad input, and divergence of the MMD encoder."""
import math
from dataclasses import replace

import pytest
import torch

from pcdiff.data import load_digits, Dataset
from pcdiff.leaves import Gaussian, Binomial
from pcdiff.losses import recon_bce, mmd2
from pcdiff.structure import random_binary_tree
from pcdiff.train import TrainConfig, train, get_objective, TrainingDiverged, read_checkpoint
from pcdiff.objectives import build, PAEModel, NeuralModel, load_init

CPU = dict(samples=0, device='cpu')


@pytest.fixture(scope='module')
def digits():
    d = load_digits()
    return replace(d, train=d.train[:400], train_labels=d.train_labels[:400])


def toy2d(n=500, seed=0):
    g = torch.Generator().manual_seed(seed)
    t = lambda: torch.tensor([2., -1.]) + 0.3 * torch.randn(n, 2, generator=g)
    return Dataset('toy2d', t(), t(), t())


def test_gan_moves_2d_samples_toward_data():
    data = toy2d()
    c = random_binary_tree(2, 1, 1, 3, 3, Gaussian(), seed=0)
    before = c.sample(2000, seed=1).mean(0)
    train(TrainConfig(objective='adv', epochs=12, batch_size=64, lr=0.05, **CPU), data=data, model=c,
          objective=get_objective('adv', d_lr=1e-3), progress=False)
    after = c.sample(2000, seed=1).mean(0)
    target = data.train.mean(0)
    assert (after - target).norm() < 0.5 * (before - target).norm()


def test_pae_reconstructs_better_after_training(digits):
    cfg = TrainConfig(objective='pae', epochs=4, lr=0.05, batch_size=64, depth=2, repetitions=3, sums=6, leaves=6,
                      objective_kwargs=dict(latent_dim=6), **CPU)
    obj, pm = build(cfg, digits)
    xs = digits.train[:50].float()
    err = lambda: sum(float(recon_bce(pm.reconstruct(xs, seed=s), xs, max_val=16)) for s in range(3)) / 3
    e0 = err()
    train(cfg, data=digits, model=pm, objective=obj, progress=False)
    assert err() < 0.85 * e0


def test_learned_temperature_moves_and_is_checkpointed(digits, tmp_path):
    cfg = TrainConfig(objective='mmd', epochs=1, lr=0.05, batch_size=100, depth=2, repetitions=2, sums=3, leaves=3,
                      out=str(tmp_path), objective_kwargs=dict(kernel='fixed', temperature='learned'), **CPU)
    obj, model = build(cfg, digits)
    tau0 = 1.0                                                           # the default tau0
    train(cfg, data=digits, model=model, objective=obj, progress=False)
    tau = float(obj.tau().detach())
    assert abs(tau - tau0) > 1e-3
    ck = read_checkpoint(tmp_path / 'last.pt')
    assert ck['objective']['step'] == 4
    assert torch.allclose(ck['objective']['modules']['temperature']['raw'], obj.temperature.raw.detach())


def test_annealed_temperature_follows_schedule(digits):
    cfg = TrainConfig(objective='adv', epochs=2, batch_size=100, depth=2, repetitions=2, sums=3, leaves=3,
                      objective_kwargs=dict(temperature='annealed'), **CPU)
    obj, model = build(cfg, digits)
    train(cfg, data=digits, model=model, objective=obj, progress=False)
    assert obj.step == 8 and math.isclose(obj.tau(), max(0.5, math.exp(-1)), rel_tol=1e-6)   # end of training


def test_ll_weight_and_init_from(digits, tmp_path):
    small = dict(depth=2, repetitions=2, sums=3, leaves=3, batch_size=100, **CPU)
    r = train(TrainConfig(objective='ll', epochs=3, lr=0.05, out=str(tmp_path / 'll'), **small), data=digits, progress=False)
    ll_pre = r.history[-1]['valid_ll']
    cfg = TrainConfig(objective='adv', epochs=1, lr=1e-3, **small,
                      objective_kwargs=dict(init_from=str(tmp_path / 'll'), ll_weight=1.0))
    obj, model = build(cfg, digits)
    r2 = train(cfg, data=digits, model=model, objective=obj, progress=False)
    assert r2.history[0]['valid_ll'] > ll_pre - 5            # fine-tuning starts from the pretrained circuit
    other = random_binary_tree(64, 1, 2, 3, 3, Binomial(16), seed=0)
    with pytest.raises(ValueError, match='differently shaped'): load_init(other, tmp_path / 'll' / 'best.pt')
    with pytest.raises(FileNotFoundError, match='init_from'): load_init(other, tmp_path / 'missing.pt')


def test_bad_input(digits):
    for name, kw, msg in [('adv', dict(d_steps=0), 'd_steps'), ('mmd', dict(e_lr=0.), 'e_lr'), ('mmd', dict(kernel='x'), 'kernel'),
                          ('pae', dict(ll_weight=-1.), 'll_weight'), ('adv', dict(tau=-1.), 'tau'),
                          ('vae', dict(beta=-1.), 'beta'), ('adv', dict(weight=0., ll_weight=0.), 'nothing to optimize')]:
        with pytest.raises(ValueError, match=msg): get_objective(name, **kw)
    with pytest.raises(ValueError, match='unknown objective'): get_objective('nope')
    with pytest.raises(ValueError, match='known objectives'): TrainConfig(objective='nope').check()
    c = random_binary_tree(32, 1, 1, 2, 2, Binomial(16), seed=0)             # 32 features, digits have 64
    with pytest.raises(ValueError, match='has 32 features but the data'):
        train(TrainConfig(objective='adv', epochs=1, **CPU), data=digits, model=c, objective=get_objective('adv'), progress=False)
    with pytest.raises(TypeError, match="trains a PAEModel"):
        get_objective('pae').setup(random_binary_tree(64, 1, 1, 2, 2, Binomial(16)), digits, 'cpu', TrainConfig())


def test_encoder_nan_stops_and_keeps_checkpoint(digits, tmp_path):
    from pcdiff.objectives import MMD
    class NaNEncoder(MMD):
        def extra_step(self, model, x, y=None):
            if self.step >= 5: x = x * math.nan
            return super().extra_step(model, x, y)
    cfg = TrainConfig(objective='mmd', epochs=3, batch_size=100, depth=2, repetitions=2, sums=3, leaves=3, out=str(tmp_path), **CPU)
    with pytest.raises(TrainingDiverged, match='the encoder loss became nan.*last good checkpoint'):
        train(cfg, data=digits, objective=NaNEncoder(d_steps=1), progress=False)
    assert read_checkpoint(tmp_path / 'last.pt')['epoch'] == 1


def test_saved_models_round_trip(digits, tmp_path):
    for name, kw in [('pae', dict(latent_dim=3)), ('vae', {})]:
        cfg = TrainConfig(objective=name, depth=2, repetitions=2, sums=3, leaves=3, objective_kwargs=kw)
        _, m = build(cfg, digits)
        m.save(tmp_path / f'{name}.pt')
        m2 = type(m).load(tmp_path / f'{name}.pt')
        assert type(m2) is type(m) and m2.config == m.config
        x = digits.valid[:4].float()
        assert torch.allclose(m.log_prob(x), m2.log_prob(x))
