"""A training run SIGKILLed in the middle of epoch 2 resumes to exactly the parameters of an uninterrupted run."""
import os, signal, subprocess, sys

import torch

from pcdiff.circuit import Circuit
from pcdiff.train import read_checkpoint

TINY = ['--depth', '2', '--repetitions', '2', '--sums', '3', '--leaves', '3', '--batch-size', '100',
        '--epochs', '3', '--seed', '7', '--device', 'cpu', '--quiet', '--samples', '0']


def _train(out, *extra, kill_at=None):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('PCDIFF_KILL_AT', None)
    if kill_at: env['PCDIFF_KILL_AT'] = kill_at
    return subprocess.run([sys.executable, '-m', 'pcdiff.cli', 'train', *TINY, '--out', str(out), *extra],
                          env=env, capture_output=True, text=True, timeout=300)


def _params(path):
    return read_checkpoint(path)['model']


def test_sigkill_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    ref = _train(tmp_path / 'ref')
    assert ref.returncode == 0, ref.stderr
    killed = _train(tmp_path / 'run', kill_at='2:5')
    assert killed.returncode == -signal.SIGKILL, (killed.returncode, killed.stderr)
    assert read_checkpoint(tmp_path / 'run' / 'last.pt')['epoch'] == 1     # the last completed epoch
    resumed = _train(tmp_path / 'run', '--resume')
    assert resumed.returncode == 0, resumed.stderr
    a, b = _params(tmp_path / 'ref' / 'last.pt'), _params(tmp_path / 'run' / 'last.pt')
    assert a.keys() == b.keys()
    for k in a: assert torch.equal(a[k], b[k]), k
    ca, cb = Circuit.load(tmp_path / 'ref' / 'best.pt'), Circuit.load(tmp_path / 'run' / 'best.pt')
    for (k, p), q in zip(ca.state_dict().items(), cb.state_dict().values()): assert torch.equal(p, q), k
    lines = (tmp_path / 'run' / 'metrics.jsonl').read_text().splitlines()
    assert len(lines) == 3                                                  # each epoch logged once
    assert (tmp_path / 'ref' / 'metrics.jsonl').read_text() .count('"epoch"') == 3


def test_rerun_without_resume_is_refused(tmp_path):
    assert _train(tmp_path / 'run').returncode == 0
    again = _train(tmp_path / 'run')
    assert again.returncode == 2 and 'resume' in again.stderr


def test_resume_with_other_structure_is_refused(tmp_path):
    assert _train(tmp_path / 'run').returncode == 0
    other = _train(tmp_path / 'run', '--resume', '--sums', '4')
    assert other.returncode == 2 and 'differently shaped model' in other.stderr
