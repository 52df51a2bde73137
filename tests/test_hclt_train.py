"""HCLT runs: EM and Adam raise the validation likelihood; a killed run resumes exactly (EM step-size schedule included)."""
import os, signal, subprocess, sys

import pytest
import torch

from pcdiff.train import TrainConfig, train, make_model, prepare_data, load_data, read_checkpoint, mean_log_likelihood, load_circuit
from pcdiff.graph import GraphCircuit

SMALL = dict(structure='hclt', latents=4, batch_size=128, samples=0, device='cpu')


@pytest.mark.parametrize('em', [True, False])
def test_hclt_training_raises_valid_likelihood(em):
    cfg = TrainConfig(epochs=2, em=em, em_stepsize=0.5, em_pseudocount=0.03, lr=0.05, **SMALL)
    data, _ = prepare_data(load_data(cfg), 'categorical')
    start = mean_log_likelihood(make_model(cfg, data), data.valid)          # the same seed: the initial model
    r = train(cfg, progress=False)
    assert isinstance(r.model, GraphCircuit) and type(r.model.leaf).__name__ == 'Categorical'
    lls = [h['valid_ll'] for h in r.history]
    assert start < lls[0] < lls[1], (start, lls)


def test_conditional_hclt_has_one_head_per_class():
    cfg = TrainConfig(conditional=True, **SMALL)
    data, _ = prepare_data(load_data(cfg), 'categorical')
    c = make_model(cfg, data)
    assert c.num_heads == 10 and c.log_prob(data.valid[:3]).shape == (3, 10)


TINY = ['--structure', 'hclt', '--latents', '3', '--em', '--em-stepsize', '0.5', '--em-schedule', 'exponential',
        '--em-stepsize-end', '0.05', '--em-pseudocount', '0.03', '--batch-size', '200', '--epochs', '3', '--seed', '5',
        '--device', 'cpu', '--quiet', '--samples', '0']


def _train(out, *extra, kill_at=''):
    env = dict(os.environ, OMP_NUM_THREADS='1', PCDIFF_KILL_AT=kill_at)      # '' kills nothing
    return subprocess.run([sys.executable, '-m', 'pcdiff.cli', 'train', *TINY, '--out', str(out), *extra], env=env,
                          capture_output=True, text=True, timeout=300)


def test_killed_hclt_em_run_resumes_exactly(tmp_path):
    assert _train(tmp_path / 'ref').returncode == 0
    killed = _train(tmp_path / 'run', kill_at='2:3')
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    ck = read_checkpoint(tmp_path / 'run' / 'last.pt')
    assert ck['epoch'] == 1 and ck['em']['updates'] == 7                    # 7 batches of 200 in 1257 examples
    resumed = _train(tmp_path / 'run', '--resume')
    assert resumed.returncode == 0, resumed.stderr
    a, b = read_checkpoint(tmp_path / 'ref' / 'last.pt'), read_checkpoint(tmp_path / 'run' / 'last.pt')
    assert a['em'] == b['em'] == {'updates': 21}
    for k in a['model']: assert torch.equal(a['model'][k], b['model'][k]), k
    best = load_circuit(tmp_path / 'run' / 'best.pt')
    assert isinstance(best, GraphCircuit)
    assert [h['lr'] for h in a['history']] == [h['lr'] for h in b['history']]   # the same step sizes
