"""Training loop: Adam and EM raise the training likelihood; NaN stops the run; extra modules plug in."""
import math

import pytest
import torch
from torch import nn

from pcdiff.train import (TrainConfig, train, EM, LogLikelihood, Objective, register_objective, OBJECTIVES,
                          TrainingDiverged, read_checkpoint)
from pcdiff.structure import random_binary_tree
from pcdiff.leaves import Binomial, Gaussian

SMALL = dict(depth=2, repetitions=2, sums=3, leaves=3, batch_size=128, samples=0, device='cpu')


@pytest.mark.parametrize('em', [False, True])
def test_training_likelihood_increases(em):
    r = train(TrainConfig(epochs=3, em=em, em_stepsize=0.3, lr=0.05, **SMALL), progress=False)
    losses = [h['train_loss'] for h in r.history]
    assert losses[-1] < losses[0]
    assert r.history[-1]['valid_ll'] > r.history[0]['valid_ll']


def test_full_batch_em_is_monotone_on_digits_subset():
    from pcdiff.data import load_digits
    x = load_digits().train[:300].float()
    c = random_binary_tree(64, 2, 2, 4, 4, leaf=Binomial(total_count=16), seed=0)
    em, lls = EM(c, stepsize=1.0), []
    for _ in range(10):
        lls.append(float(em.process_batch(x).mean())); em.update()
    assert all(b >= a - 1e-4 * abs(a) for a, b in zip(lls, lls[1:])), lls
    assert lls[-1] > lls[0] + 1


def test_nan_loss_stops_and_keeps_checkpoint(tmp_path):
    class Boom(LogLikelihood):
        calls = 0
        def loss(self, model, x, y=None):
            self.calls += 1
            return super().loss(model, x, y) * (math.nan if self.calls > 12 else 1.)
    with pytest.raises(TrainingDiverged, match='the loss became nan at epoch 2'):
        train(TrainConfig(epochs=3, out=str(tmp_path), **SMALL), objective=Boom(), progress=False)
    assert read_checkpoint(tmp_path / 'last.pt')['epoch'] == 1


def test_huge_learning_rate_diverges_or_reports(tmp_path):
    # a learning rate of 1e10 on Gaussian leaves drives the scale to its floor; any NaN/inf must stop cleanly
    try: train(TrainConfig(dataset='2-moons', epochs=2, lr=1e10, out=str(tmp_path), **{**SMALL, 'depth': 1}), progress=False)
    except TrainingDiverged as e: assert 'became' in str(e)


def test_extra_modules_are_stepped_and_checkpointed(tmp_path):
    @register_objective
    class WithCritic(Objective):
        name = 'critic-test'
        def setup(self, model, data, device, config):
            self.critic = nn.Linear(data.num_features, 1).to(device)
            self.opt = torch.optim.SGD(self.critic.parameters(), lr=0.1)
            self.steps = 0
        def extra_modules(self): return {'critic': self.critic}
        def extra_optimizers(self): return {'critic': self.opt}
        def extra_step(self, model, x, y=None):
            l = self.critic(x / 16).pow(2).mean(); l.backward(); self.opt.step(); self.steps += 1
            return {'critic': float(l.detach())}
        def loss(self, model, x, y=None): return -model(x).mean()
    try:
        obj = WithCritic()
        train(TrainConfig(objective='critic-test', epochs=1, out=str(tmp_path), **SMALL), objective=obj, progress=False)
        assert obj.steps == 10                                              # 1257 rows / 128 per batch
        ck = read_checkpoint(tmp_path / 'last.pt')
        assert torch.equal(ck['objective']['modules']['critic']['weight'], obj.critic.weight.detach())
    finally: OBJECTIVES.pop('critic-test', None)


def test_corrupt_and_foreign_checkpoints(tmp_path):
    (tmp_path / 'last.pt').write_bytes(b'\x00garbage')
    with pytest.raises(ValueError, match='not a readable pcdiff file'):
        train(TrainConfig(epochs=1, out=str(tmp_path), resume=True, **SMALL), progress=False)
    torch.save({'format': 'pcdiff.circuit/1'}, tmp_path / 'last.pt')
    with pytest.raises(ValueError, match='not a pcdiff.train/1 file'):
        train(TrainConfig(epochs=1, out=str(tmp_path), resume=True, **SMALL), progress=False)


def test_class_conditional_training_uses_heads(tmp_path):
    r = train(TrainConfig(epochs=1, conditional=True, **SMALL), progress=False)
    assert r.model.num_heads == 10 and math.isfinite(r.test_bpd)
