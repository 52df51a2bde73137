"""Two CPU processes (torchrun, gloo) end with identical parameters that match one process with the same global batch."""
import os, subprocess, sys

import torch

from pcdiff.train import read_checkpoint

TINY = ['--depth', '2', '--repetitions', '2', '--sums', '3', '--leaves', '3', '--batch-size', '128',
        '--epochs', '2', '--seed', '3', '--device', 'cpu', '--quiet', '--samples', '0']


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for k in ('PCDIFF_KILL_AT', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
    return env


def test_ddp_two_processes_match_single_process(tmp_path):
    single = subprocess.run([sys.executable, '-m', 'pcdiff.cli', 'train', *TINY, '--out', str(tmp_path / 'one')],
                            env=_env(), capture_output=True, text=True, timeout=300)
    assert single.returncode == 0, single.stderr
    # every rank writes its final parameters through a hook: rank 0 writes the run folder; compare both ranks too
    script = tmp_path / 'ddp_run.py'
    script.write_text(
        "import os, sys, torch\n"
        "from pcdiff.train import TrainConfig, train\n"
        "out = sys.argv[1]\n"
        "r = train(TrainConfig(depth=2, repetitions=2, sums=3, leaves=3, batch_size=128, epochs=2, seed=3, device='cpu',\n"
        "                      samples=0, out=out + '/run'), progress=False)\n"
        "import torch.distributed as dist\n"
        "torch.save(r.model.state_dict(), f\"{out}/rank{os.environ['RANK']}.pt\")\n")
    ddp = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                          str(script), str(tmp_path)], env=_env(), capture_output=True, text=True, timeout=300)
    assert ddp.returncode == 0, ddp.stderr[-3000:]
    r0, r1 = torch.load(tmp_path / 'rank0.pt'), torch.load(tmp_path / 'rank1.pt')
    for k in r0: assert torch.equal(r0[k], r1[k]), k                       # identical on both processes
    one = read_checkpoint(tmp_path / 'one' / 'last.pt')['model']
    two = read_checkpoint(tmp_path / 'run' / 'last.pt')['model']
    for k in one: torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-4)
    assert read_checkpoint(tmp_path / 'run' / 'last.pt')['step'] == read_checkpoint(tmp_path / 'one' / 'last.pt')['step']


def test_cli_under_torchrun(tmp_path):
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                          '-m', 'pcdiff.cli', 'train', *TINY, '--epochs', '1', '--out', str(tmp_path / 'cli')],
                         env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / 'cli' / 'best.pt').is_file() and (tmp_path / 'cli' / 'metrics.jsonl').is_file()
