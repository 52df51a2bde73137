"""`pcdiff eval` reports the scores each objective is judged by, as the reproduction runner computes them: likelihood
where the model has one, FD/KID of samples, the reconstruction BCE of PAE (sampled and MPE, the paper's Table 3) and
VAE runs. Tiny one-epoch runs on the digits, in this process."""
import json, math

import pytest

from pcdiff.cli import main, load_run
from pcdiff.reproduce import score

TINY = ['--epochs', '1', '--depth', '2', '--repetitions', '2', '--sums', '3', '--leaves', '3', '--batch-size', '256',
        '--samples', '0', '--quiet']
# objective -> scores its evaluation must report, scores it must not (no likelihood, no reconstruction)
EXPECTED = {'pae': ({'test_ll', 'test_bpd', 'fd', 'kid', 'recon_bce', 'recon_bce_mpe'}, set()),
            'vae': ({'fd', 'kid', 'recon_bce'}, {'test_bpd', 'recon_bce_mpe'}),
            'gan': ({'fd', 'kid'}, {'test_bpd', 'recon_bce'}),
            'mmd': ({'test_ll', 'test_bpd', 'fd', 'kid'}, {'recon_bce'}),
            'adv': ({'test_ll', 'test_bpd', 'fd', 'kid'}, {'recon_bce'})}


@pytest.mark.parametrize('objective', list(EXPECTED))
def test_eval_reports_the_objectives_scores(tmp_path, capsys, objective):
    run = tmp_path / objective
    kw = ['--objective-kwargs', '{"d_steps": 1}'] if objective == 'mmd' else []
    assert main(['train', '--objective', objective, *TINY, *kw, '--out', str(run)]) == 0
    assert main(['eval', str(run), '-n', '100']) == 0
    m = json.loads((run / 'metrics.json').read_text())
    assert m == json.loads(capsys.readouterr().out.splitlines()[-2])       # printed and written alike
    must, must_not = EXPECTED[objective]
    assert must <= set(m) and not must_not & set(m), sorted(m)
    assert all(math.isfinite(m[k]) for k in must)
    assert m['objective'] == objective and m['dataset'] == 'digits'
    if objective == 'pae':                                                 # the reproduction runner's numbers
        cfg, raw, data, st, model = load_run(run)
        s = score(model, cfg, raw, 'test', 100, seed=0)
        assert (m['recon_bce'], m['recon_bce_mpe'], m['fd']) == (s['recon_bce'], s['recon_bce_mpe'], s['fd'])


@pytest.mark.parametrize('objective', ['gan', 'mmd'])
def test_eval_of_points_reports_the_mmd_of_samples(tmp_path, capsys, objective):
    run = tmp_path / objective
    assert main(['train', '--dataset', '2-moons', '--objective', objective, '--epochs', '1', '--quiet', '--out', str(run)]) == 0
    assert main(['eval', str(run), '-n', '200']) == 0
    m = json.loads((run / 'metrics.json').read_text())
    assert math.isfinite(m['mmd']) and ('test_bpd' in m) == (objective == 'mmd') and 'fd' not in m
