"""LVD circuits against enumeration on tiny images; the LVD pipeline on MNIST-shaped files the test writes, through the CLI."""
import itertools, json, math
from dataclasses import replace

import pytest
import torch
from scipy.stats import chisquare

from pcdiff.cli import main
from pcdiff.data import load_digits
from pcdiff.hclt import hclt
from pcdiff.leaves import Categorical
from pcdiff.lvd import LVDCircuit, LVDConfig, train_lvd
from pcdiff.teacher import TeacherConfig, to_patches, train_teacher
from test_teacher import _write_mnist


def _tiny(shape=(1, 2, 2), patch=1, K=2, seed=0):
    "An LVD circuit over binary images of `shape` with random parameters: HCLTs fitted to random data."
    g = torch.Generator().manual_seed(seed)
    C, H, W = shape
    P, L = C * patch ** 2, H * W // patch ** 2
    pc = hclt(torch.randint(0, 2, (40, P), generator=g), 2, Categorical(num_bins=2), num_heads=K, seed=seed)
    pr = hclt(torch.randint(0, K, (40, L), generator=g), 2, Categorical(num_bins=K), seed=seed + 1)
    return LVDCircuit(pc, pr, shape, patch)


def _all(F): return torch.tensor(list(itertools.product([0., 1.], repeat=F)))


@pytest.mark.parametrize('shape,patch', [((1, 2, 2), 1), ((1, 2, 4), 2), ((2, 2, 2), 1)])
def test_normalized_and_equal_to_the_sum_over_z(shape, patch):
    m = _tiny(shape, patch)
    x = _all(m.num_features)
    lp = m.log_prob(x).detach()
    assert lp.logsumexp(0).exp().item() == pytest.approx(1., abs=1e-5)
    L, K = m.num_positions, m.num_clusters
    ll = m.patches.log_prob(to_patches(x, shape, patch).reshape(len(x) * L, -1)).detach().view(len(x), L, K)
    zs = torch.tensor(list(itertools.product(range(K), repeat=L)))
    pz = m.prior.log_prob(zs.float()).detach()
    explicit = torch.stack([pz[j] + ll[:, torch.arange(L), z].sum(1) for j, z in enumerate(zs)], 1).logsumexp(1)
    torch.testing.assert_close(lp, explicit, atol=1e-5, rtol=0)
    post = m.cluster_posterior(x[:5])                                         # p(z_i | x) by brute force
    joint = torch.stack([pz[j] + ll[:5, torch.arange(L), z].sum(1) for j, z in enumerate(zs)], 1).softmax(1)   # (5, K^L)
    brute = torch.stack([torch.stack([joint[:, zs[:, i] == k].sum(1) for k in range(K)], 1) for i in range(L)], 1)
    torch.testing.assert_close(post, brute.float(), atol=1e-5, rtol=0)


def test_marginals_and_conditionals():
    m = _tiny((1, 2, 4), 2, K=3)
    x = _all(8)
    lp = m.log_prob(x).detach()
    keep = torch.tensor([0, 3, 5])                                            # observed pixels
    xm = x.clone(); xm[:, [i for i in range(8) if i not in keep]] = float('nan')
    marg = m.log_prob(xm).detach()
    brute = torch.stack([lp[(x[:, keep] == v).all(1)].logsumexp(0) for v in x[:, keep]])
    torch.testing.assert_close(marg, brute, atol=1e-5, rtol=0)
    mask = torch.zeros(8, dtype=torch.bool); mask[keep] = True
    torch.testing.assert_close(m.log_prob(x, marginalize=~mask).detach(), marg)
    cond = m.conditional_log_prob(x, ~mask).detach()                         # log p(x_rest | x_keep)
    torch.testing.assert_close(cond, lp - marg, atol=1e-6, rtol=0)


def test_samples_follow_the_distribution():
    m = _tiny((1, 2, 2), 1, K=2, seed=3)
    x = _all(4)
    p = m.log_prob(x).detach().double().exp()
    s = m.sample(20000, seed=0)
    idx = (s * torch.tensor([8., 4., 2., 1.])).sum(1).long()
    counts = torch.bincount(idx, minlength=16).double()
    assert chisquare(counts, p / p.sum() * len(s)).pvalue > 1e-3
    ev = torch.tensor([[1., float('nan'), float('nan'), 0.]]).repeat(20000, 1)     # p(x_1, x_2 | x_0 = 1, x_3 = 0)
    s = m.sample(evidence=ev, seed=1)
    assert (s[:, 0] == 1).all() and (s[:, 3] == 0).all()
    rows = (x[:, 0] == 1) & (x[:, 3] == 0)
    q = p[rows] / p[rows].sum()
    counts = torch.bincount((s[:, 1] * 2 + s[:, 2]).long(), minlength=4).double()
    assert chisquare(counts, q.double() * len(s)).pvalue > 1e-3
    mpe = m.mpe(ev[:2])
    assert torch.equal(mpe[0], mpe[1]) and not torch.isnan(mpe).any() and mpe[0, 0] == 1 and mpe[0, 3] == 0


def test_files_and_bad_circuits(tmp_path):
    m = _tiny((1, 2, 4), 2)
    m.save(tmp_path / 'm.pt')
    x = _all(8)
    torch.testing.assert_close(LVDCircuit.load(tmp_path / 'm.pt').log_prob(x), m.log_prob(x))
    m.patches.save(tmp_path / 'g.pt')
    with pytest.raises(ValueError, match='not a pcdiff.lvd/1 file'): LVDCircuit.load(tmp_path / 'g.pt')
    (tmp_path / 'bad.pt').write_bytes(b'not a checkpoint')
    with pytest.raises(ValueError, match='not a readable pcdiff file'): LVDCircuit.load(tmp_path / 'bad.pt')
    with pytest.raises(ValueError, match='patch=3 must divide'): LVDCircuit(m.patches, m.prior, (1, 2, 4), 3)
    with pytest.raises(ValueError, match='Categorical\\(num_bins=2\\)'):
        LVDCircuit(m.patches, hclt(torch.randint(0, 3, (20, 2)), 2, Categorical(num_bins=3)), (1, 2, 4), 2)
    with pytest.raises(ValueError, match='shape \\(N, 8\\)'): m.log_prob(torch.zeros(3, 7))


def _cfg(root, out, **kw):
    base = dict(dataset='mnist', root=str(root), patch=4, outer=2, heads=2, latents=2, prior_latents=2, em_epochs=2,
                em_batch_size=512, finetune_epochs=1, batch_size=32, teacher_epochs=2, codebook_size=8, device='cpu', out=str(out))
    return LVDConfig(**{**base, **kw})


def test_pipeline_on_mnist_files_and_cli(tmp_path):
    _write_mnist(tmp_path)
    run = tmp_path / 'run'
    r = train_lvd(_cfg(tmp_path, run), progress=False)
    met = json.loads((run / 'metrics.json').read_text())
    for k in ('test_bpd', 'teacher_elbo_bpd', 'lvd_bound_bpd', 'num_params'): assert math.isfinite(met[k])
    assert met['num_params'] == r.model.num_params() and r.model.num_clusters <= 4
    assert met['lvd_test_bpd'] <= met['lvd_bound_bpd'] + 1e-9                 # the exact likelihood is above its bound
    assert r.labels.shape == (72, 49)                                          # 80 images less the validation split
    assert main(['eval', str(run), '-n', '20']) == 0
    assert json.loads((run / 'metrics.json').read_text())['test_bpd'] == pytest.approx(met['test_bpd'])
    assert main(['sample', str(run), '-n', '4']) == 0 and (run / 'samples.png').is_file()
    again = train_lvd(_cfg(tmp_path, run, resume=True), progress=False)        # finished: resumes to the same model
    assert again.metrics['test_bpd'] == pytest.approx(met['test_bpd'])
    with pytest.raises(ValueError, match='already holds an LVD run'): train_lvd(_cfg(tmp_path, run), progress=False)
    with pytest.raises(ValueError, match='differs in .*heads'): train_lvd(_cfg(tmp_path, run, heads=3, resume=True), progress=False)
    one = tmp_path / 'one'                                                     # one-shot LVD from the shell, the same teacher
    flags = [f"--{k.replace('_', '-')}={v}" for k, v in vars(_cfg(tmp_path, one)).items() if k not in ('resume', 'download')]
    assert main(['lvd', '--one-shot', '--quiet', f"--teacher={run / 'teacher' / 'teacher.pt'}"] +
                [f for f in flags if not f.startswith(('--teacher=', '--one-shot=', '--max-items='))]) == 0
    assert LVDCircuit.load(one / 'best.pt').num_clusters == 4 and not (one / 'teacher').exists()
    assert json.loads((one / 'metrics.json').read_text())['method'] == 'one-shot LVD'


def test_bad_input_fails_before_any_work(tmp_path, capsys):
    _write_mnist(tmp_path)
    with pytest.raises(ValueError, match='patch=5 must divide'): train_lvd(_cfg(tmp_path, tmp_path / 'a', patch=5), progress=False)
    with pytest.raises(ValueError, match='outer must be an int >= 1'): train_lvd(_cfg(tmp_path, tmp_path / 'a', outer=0), progress=False)
    with pytest.raises(ValueError, match='heads must be an int >= 1'): train_lvd(_cfg(tmp_path, tmp_path / 'a', heads=-1), progress=False)
    with pytest.raises(ValueError, match='at least 2 clusters'): train_lvd(_cfg(tmp_path, tmp_path / 'a', outer=1, heads=1), progress=False)
    assert not (tmp_path / 'a').exists()
    digits = TeacherConfig(patch=2, codebook_size=4, embed_dim=2, width=8, epochs=1, device='cpu', out=str(tmp_path / 't'))
    train_teacher(digits, progress=False)
    with pytest.raises(ValueError, match='teacher does not fit'):
        train_lvd(_cfg(tmp_path, tmp_path / 'a', teacher=str(tmp_path / 't' / 'teacher.pt')), progress=False)
    (tmp_path / 'junk.pt').write_bytes(b'junk')
    with pytest.raises(ValueError, match='not a readable pcdiff file'):
        train_lvd(_cfg(tmp_path, tmp_path / 'a', teacher=str(tmp_path / 'junk.pt')), progress=False)
    assert not (tmp_path / 'a').exists()
    bad = tmp_path / 'bad'; bad.mkdir(); (bad / 'lvd_state.pt').write_bytes(b'junk')
    with pytest.raises(ValueError, match='not a readable pcdiff file'): train_lvd(_cfg(tmp_path, bad, resume=True), progress=False)
    with pytest.raises(SystemExit) as e:
        main(['lvd', '--dataset', 'mnist', '--root', str(tmp_path), '--patch', '3', '--out', str(tmp_path / 'a')])
    assert e.value.code == 2 and 'patch=3 must divide' in capsys.readouterr().err
    mine = tmp_path / 'mine'; mine.mkdir(); (mine / 'config.json').write_text('{"mine": 1}')
    with pytest.raises(ValueError, match='already holds another run'): train_lvd(_cfg(tmp_path, mine), progress=False)
    assert (mine / 'config.json').read_text() == '{"mine": 1}'
