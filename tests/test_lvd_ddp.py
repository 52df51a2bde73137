"""LVD-PG with its outer clusters grown on two CPU processes (torchrun, gloo) makes what one process makes; it resumes
from the outer clusters' checkpoints with another number of processes."""
import json, os, subprocess, sys

import pytest
import torch

from pcdiff.circuit import load_file
from pcdiff import lvd
from pcdiff.lvd import LVDConfig, train_lvd
from pcdiff.teacher import TeacherConfig, train_teacher


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for k in ('WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
    return env


@pytest.fixture(scope='module')
def teacher(tmp_path_factory):
    t = tmp_path_factory.mktemp('teacher')
    train_teacher(TeacherConfig(patch=2, codebook_size=8, embed_dim=2, width=8, epochs=1, device='cpu', out=str(t)), progress=False)
    return str(t / 'teacher.pt')


def _cfg(teacher, out, **kw):
    base = dict(outer=3, heads=2, latents=2, prior_latents=2, em_epochs=2, em_batch_size=1024, finetune_epochs=1,
                teacher=teacher, device='cpu', out=str(out))
    return LVDConfig(**{**base, **kw})


@pytest.mark.parametrize('finetune', ['adam', 'em'])
def test_two_processes_grow_what_one_process_grows(tmp_path, teacher, finetune):
    one = train_lvd(_cfg(teacher, tmp_path / 'one', finetune=finetune), progress=False)
    script = tmp_path / 'run.py'
    script.write_text("import os, sys, torch\nfrom pcdiff.lvd import LVDConfig, train_lvd\n"
                      f"r = train_lvd(LVDConfig(**{vars(_cfg(teacher, tmp_path / 'two', finetune=finetune))!r}), progress=False)\n"
                      "torch.save(r.model.state_dict(), f\"{sys.argv[1]}/rank{os.environ['RANK']}.pt\")\n")
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', str(script),
                          str(tmp_path)], env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    two = tmp_path / 'two'
    r0, r1 = torch.load(tmp_path / 'rank0.pt'), torch.load(tmp_path / 'rank1.pt')
    for k, v in one.model.state_dict().items():
        assert torch.equal(r0[k], r1[k]), k                                    # both processes hold the same circuit
        torch.testing.assert_close(r0[k], v, rtol=1e-5, atol=1e-5)             # the circuit of one process
    st = load_file(two / 'lvd_state.pt', 'pcdiff.lvd-run/1')
    assert torch.equal(st['labels'], one.labels.flatten())                    # the same clusters
    met = json.loads((two / 'metrics.json').read_text())
    assert met['test_bpd'] == pytest.approx(one.metrics['test_bpd'], abs=1e-6) and met['finetune'] == finetune
    # resume with one process: the lost run state is rebuilt from the outer clusters' files, which are not grown again
    stamps = {o: (two / f'lvd_outer{o}.pt').stat().st_mtime_ns for o in range(3)}
    (two / 'lvd_state.pt').unlink()
    again = train_lvd(_cfg(teacher, two, finetune=finetune, resume=True), progress=False)
    assert stamps == {o: (two / f'lvd_outer{o}.pt').stat().st_mtime_ns for o in range(3)}
    assert again.metrics['test_bpd'] == pytest.approx(one.metrics['test_bpd'], abs=1e-6)
    with pytest.raises(ValueError, match='differs in .*heads'):
        train_lvd(_cfg(teacher, two, finetune=finetune, resume=True, heads=3), progress=False)


def test_growing_resumes_exactly_from_an_outer_clusters_checkpoint(tmp_path, teacher, monkeypatch):
    full = train_lvd(_cfg(teacher, tmp_path / 'full'), progress=False)
    steps, grow_step = [], lvd.grow_step
    def interrupted(*a, **kw):                                                 # stops after three growing steps
        if len(steps) == 3: raise KeyboardInterrupt
        steps.append(1); return grow_step(*a, **kw)
    monkeypatch.setattr(lvd, 'grow_step', interrupted)
    with pytest.raises(KeyboardInterrupt): train_lvd(_cfg(teacher, tmp_path / 'cut'), progress=False)
    monkeypatch.undo()
    part = load_file(tmp_path / 'cut' / 'lvd_outer1.pt', 'pcdiff.lvd-outer/1')
    assert not part['done'] and part['step'] == 1 and not (tmp_path / 'cut' / 'lvd_outer2.pt').exists()
    with pytest.raises(ValueError, match='already holds an LVD run'): train_lvd(_cfg(teacher, tmp_path / 'cut'), progress=False)
    again = train_lvd(_cfg(teacher, tmp_path / 'cut', resume=True), progress=False)
    for k, v in full.model.state_dict().items(): assert torch.equal(again.model.state_dict()[k], v), k
    assert torch.equal(again.labels, full.labels) and again.history == full.history


def test_cli_under_torchrun_trains_the_teacher_once(tmp_path):
    out = tmp_path / 'cli'
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2', '-m', 'pcdiff.cli',
                          'lvd', '--outer', '3', '--heads', '2', '--latents', '2', '--prior-latents', '2', '--em-epochs', '1',
                          '--em-batch-size', '1024', '--finetune', 'em', '--finetune-epochs', '1', '--teacher-epochs', '1',
                          '--codebook-size', '8', '--device', 'cpu', '--quiet', '--out', str(out)],
                         env=_env(), capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.count('test bpd') == 1                                   # process 0 reports
    assert (out / 'teacher' / 'teacher.pt').is_file() and sorted(p.name for p in out.glob('lvd_outer*.pt')) == \
        ['lvd_outer0.pt', 'lvd_outer1.pt', 'lvd_outer2.pt']
    assert json.loads((out / 'metrics.json').read_text())['finetune'] == 'em'
