"""Two CPU processes (torchrun, gloo) training objectives with critics end with identical models, critics and temperatures."""
import json, os, subprocess, sys

import pytest
import torch

CASES = {'adv': dict(d_steps=2, temperature='learned'), 'adv-circuit': dict(discriminator='circuit'), 'mmd': dict(d_steps=1)}

SCRIPT = """
import json, os, sys, torch
import torch.distributed as dist
from pcdiff.train import TrainConfig, train, get_objective
import pcdiff.objectives
out, cases = sys.argv[1], json.loads(sys.argv[2])
dist.init_process_group('gloo')                    # one group for every case: train leaves it open
for case, kw in cases.items():
    obj = get_objective(case.split('-')[0], **kw)
    r = train(TrainConfig(objective=obj.name, depth=2, repetitions=2, sums=3, leaves=3, batch_size=128, epochs=2, seed=3,
                          device='cpu', samples=0, objective_kwargs=kw), objective=obj, progress=False)
    torch.save(dict(model=r.model.state_dict(), critic={k: m.state_dict() for k, m in obj.extra_modules().items()}),
               f"{out}/{case}-rank{dist.get_rank()}.pt")
dist.destroy_process_group()
"""


def _env():
    env = dict(os.environ, OMP_NUM_THREADS='1')
    for k in ('PCDIFF_KILL_AT', 'WORLD_SIZE', 'RANK', 'LOCAL_RANK', 'MASTER_ADDR', 'MASTER_PORT'): env.pop(k, None)
    return env


@pytest.fixture(scope='module')
def states(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('ddp')
    (tmp / 'run.py').write_text(SCRIPT)
    run = subprocess.run([sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node', '2',
                          str(tmp / 'run.py'), str(tmp), json.dumps(CASES)], env=_env(), capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return {case: [torch.load(tmp / f'{case}-rank{r}.pt') for r in (0, 1)] for case in CASES}


@pytest.mark.parametrize('case', list(CASES))
def test_ranks_end_identical(states, case):
    r0, r1 = states[case]
    assert set(r0['critic']) == {'temperature', 'encoder' if case == 'mmd' else 'discriminator'}
    for k in r0['model']: assert torch.equal(r0['model'][k], r1['model'][k]), k
    for name, sd in r0['critic'].items():
        for k in sd: assert torch.equal(sd[k], r1['critic'][name][k]), f'{name}.{k}'
