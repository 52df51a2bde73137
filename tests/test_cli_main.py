"""The pcdiff command line in a subprocess on tiny settings: train, eval, sample, grid, help and errors."""
import json, os, subprocess, sys

import pytest
from PIL import Image

TINY = ['--depth', '2', '--repetitions', '2', '--sums', '3', '--leaves', '3', '--batch-size', '256', '--quiet']


def cli(*args, timeout=300):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('PCDIFF_KILL_AT', None)
    return subprocess.run([sys.executable, '-m', 'pcdiff.cli', *map(str, args)], env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_train_eval_sample(tmp_path):
    run = tmp_path / 'digits-ll'
    r = cli('train', '--dataset', 'digits', '--epochs', '2', *TINY, '--out', run)
    assert r.returncode == 0, r.stderr
    assert str(run) in r.stdout and 'test bpd' in r.stdout
    for f in ('best.pt', 'last.pt', 'config.json', 'metrics.jsonl', 'metrics.csv', 'result.json'): assert (run / f).is_file(), f
    hist = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert [h['epoch'] for h in hist] == [1, 2]
    assert (run / 'metrics.csv').read_text().count('\n') == 3
    e = cli('eval', run, '-n', '100')
    assert e.returncode == 0, e.stderr
    m = json.loads((run / 'metrics.json').read_text())
    assert m['test_bpd'] == pytest.approx(json.loads((run / 'result.json').read_text())['test_bpd'], rel=1e-6)
    assert 'fd' in m and 'kid' in m
    s = cli('sample', run, '-n', '16')
    assert s.returncode == 0, s.stderr
    # 16 digits, 4 per row, each 8x8 digit enlarged to 64x64 pixels with 4 pixels of padding, under a title band
    assert Image.open(run / 'samples.png').size == (4 * 68 + 4, 4 * 68 + 4 + 28)
    assert Image.open(run / 'samples' / 'epoch_002.png').size == (8 * 68 + 4, 8 * 68 + 4 + 28)   # 64 per epoch


def test_toy_dataset_with_em(tmp_path):
    run = tmp_path / 'moons'
    r = cli('train', '--dataset', '2-moons', '--epochs', '2', '--em', '--em-stepsize', '0.5', '--quiet', '--out', run)
    assert r.returncode == 0, r.stderr
    cfg = json.loads((run / 'config.json').read_text())
    assert cfg['em'] and cfg['depth'] == 1 and cfg['leaf'] == 'auto'
    hist = [json.loads(l) for l in (run / 'metrics.jsonl').read_text().splitlines()]
    assert hist[1]['valid_ll'] > hist[0]['valid_ll']


def test_grid(tmp_path):
    r = cli('grid', '--epochs', '1', *TINY, '--lrs', '0.1', '0.01', '--batch-sizes', '256', '--seeds', '0', '1',
               '--out', tmp_path / 'grid')
    assert r.returncode == 0, r.stderr
    assert '+-' in r.stdout and len(json.loads((tmp_path / 'grid' / 'grid.json').read_text())) == 4
    assert (tmp_path / 'grid' / 'lr0.1-bs256-seed1' / 'best.pt').is_file()


def test_help_explains_every_flag():
    r = cli('train', '--help')
    assert r.returncode == 0
    for flag in ('--objective', '--dataset', '--epochs', '--lr', '--batch-size', '--depth', '--repetitions', '--sums',
                 '--leaves', '--leaf', '--seed', '--device', '--em', '--amp', '--resume', '--root', '--download', '--out'):
        assert flag in r.stdout, flag
    for cmd in ('eval', 'sample', 'grid', 'bench'): assert cli(cmd, '--help').returncode == 0


@pytest.mark.parametrize('args,msg', [
    (['train', '--dataset', 'imagenet'], 'known datasets'),
    (['train', '--objective', 'wgan'], 'known objectives'),
    (['train', '--dataset', 'mnist'], 'root is required'),
    (['eval', 'no/such/run'], 'not a finished pcdiff run'),
    (['sample', 'no/such/run'], 'not a finished pcdiff run'),
])
def test_clear_errors(args, msg):
    r = cli(*args)
    assert r.returncode == 2 and msg in r.stderr, (r.returncode, r.stderr)
