"""One API: `import pcdiff` gives the entry points, `Circuit.sample` is there whichever module comes first, and every
module the package imports at its top level is a runtime requirement."""
import ast, configparser, os, subprocess, sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# import name -> distribution in settings.ini `requirements`
DISTRIBUTIONS = {'PIL': 'pillow', 'sklearn': 'scikit-learn'}


def fresh(code:str) -> str:
    "Run `code` in a new interpreter that imports this checkout's pcdiff; returns its stdout."
    r = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT, timeout=300,
                       env=dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1'))
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.mark.parametrize('first', ['pcdiff.structure', 'pcdiff.circuit', 'pcdiff.sampling'])
def test_sample_is_a_method_whatever_is_imported_first(first):
    out = fresh(f"import {first}\nfrom pcdiff.structure import random_binary_tree\nfrom pcdiff.leaves import Bernoulli\n"
                "c = random_binary_tree(4, 1, 2, 2, 2, Bernoulli(), seed=0)\n"
                "print(type(c).sample.__module__, tuple(c.sample(3, seed=0).shape))")
    assert out.split() == ['pcdiff.sampling', '(3,', '4)']


def test_import_pcdiff_gives_the_entry_points_and_stays_light():
    out = fresh("import sys, pcdiff\n"
                "names = 'random_binary_tree Bernoulli Binomial Categorical Gaussian Circuit make_temperature TrainConfig train get_dataset'\n"
                "missing = [n for n in names.split() if not hasattr(pcdiff, n)]\n"
                "print(missing, sorted(n for n in pcdiff.__all__ if not hasattr(pcdiff, n)))\n"
                "print(callable(pcdiff.train), sorted(pcdiff.train.__globals__['OBJECTIVES']))\n"
                "print([m for m in ('matplotlib', 'fastcore', 'nbdev', 'sklearn', 'torchvision') if m in sys.modules])")
    missing, call, heavy = out.splitlines()
    assert missing == '[] []'
    assert call == "True ['adv', 'gan', 'll', 'mmd', 'mmdgan', 'pae', 'vae']"     # objectives registered with train
    assert heavy == '[]'


def test_objectives_import_after_pcdiff():
    "`pcdiff.train` is the training function, so no module may reach the training module through that attribute."
    fresh("import pcdiff, pcdiff.objectives as o, pcdiff.cli, pcdiff.reproduce, pcdiff.bench\n"
          "assert o.make_model.__module__ == 'pcdiff.train'")


def _top_level_imports(path:Path) -> set:
    "Root names of the modules a file imports at its top level (not inside functions)."
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, ast.Import): names |= {a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0: names.add(node.module.split('.')[0])
    return names


def test_top_level_imports_are_runtime_requirements():
    cfg = configparser.ConfigParser(delimiters=['=']); cfg.read(ROOT / 'settings.ini')
    reqs = {r.split('=')[0].split('<')[0].split('>')[0].lower() for r in cfg['DEFAULT']['requirements'].split()}
    for f in sorted((ROOT / 'pcdiff').glob('*.py')):
        for name in _top_level_imports(f) - set(sys.stdlib_module_names) - {'pcdiff', '__future__'}:
            assert DISTRIBUTIONS.get(name, name).lower() in reqs, f"{f.name} imports {name}, not in settings.ini requirements"
