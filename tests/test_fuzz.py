"""Property-based fuzz of what a user can reach: `log_prob`, `conditional_log_prob`, `mpe`, `sample`,
`random_binary_tree`, `Circuit.load` and the `pcdiff` command line.

Every generated input must either work, with finite results of the documented shape, or be refused: by a
`ValueError`/`TypeError` whose message names one of the arguments given (API), or by exit status 2 and one
`pcdiff CMD: error: ...` line (CLI). No other exception, no NaN/inf, nothing slower than `TIMEOUT` seconds, and no
message that advises unsafe loading (`weights_only=False`).

`PCDIFF_FUZZ_LOG=FILE` appends every failure to FILE (one JSON line) instead of stopping at the first one, to
count them: `PCDIFF_FUZZ_LOG=/tmp/f.jsonl pytest tests/test_fuzz.py`.
"""
import contextlib, io, json, math, os, re, resource, shutil, signal, tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st

from pcdiff.leaves import Bernoulli, Binomial, Categorical, Gaussian, Joint
from pcdiff.circuit import Circuit
from pcdiff.structure import random_binary_tree
import pcdiff.sampling  # noqa: F401  (Circuit.sample)
from pcdiff.cli import main

TIMEOUT = 20          # seconds an input may take before it counts as a hang
LOG = os.environ.get('PCDIFF_FUZZ_LOG')
FUZZ = dict(derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck))
UNSAFE = 'weights_only'


@pytest.fixture(scope='module', autouse=True)
def memory_cap():
    "A refusal must come before the allocation: cap the address space so that a huge one fails fast instead."
    status = Path('/proc/self/status')
    if not status.exists(): yield; return                      # not Linux: no cap
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    vm = int(re.search(r'VmSize:\s+(\d+)', status.read_text()).group(1)) * 1024
    cap = vm + 6 * 2 ** 30 if hard == resource.RLIM_INFINITY else min(vm + 6 * 2 ** 30, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


class _Hang(BaseException): pass

@contextlib.contextmanager
def _deadline(seconds):
    def alarm(*_): raise _Hang()
    old = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try: yield
    finally: signal.alarm(0); signal.signal(signal.SIGALRM, old)


def _report(test, kind, detail):
    "`None` when logging (count and go on), else the failure description."
    msg = f'{kind}: {detail}'
    if LOG:
        with open(LOG, 'a') as f: f.write(json.dumps(dict(test=test, kind=kind, detail=detail[:300])) + '\n')
        return None
    return msg


def _names_argument(msg, names): return any(re.search(rf'(?<![\w.]){re.escape(n)}(?!\w)', msg) for n in names)


def api_outcome(test, fn, names, check=None):
    "Run `fn()`; `None` if it works (and `check(result)` passes) or refuses clearly, else what went wrong."
    try:
        with _deadline(TIMEOUT): out = fn()
    except _Hang: return _report(test, 'hang', f'no answer within {TIMEOUT} s')
    except (ValueError, TypeError) as e:
        msg = str(e)
        if UNSAFE in msg: return _report(test, 'unsafe', msg)
        if not _names_argument(msg, names): return _report(test, 'vague', f'{type(e).__name__}: {msg} (names none of {names})')
        return None
    except FileNotFoundError as e: return None if _names_argument(str(e), names) else _report(test, 'vague', str(e))
    except Exception as e: return _report(test, 'crash', f'{type(e).__name__}: {str(e)[:200]}')
    if check is not None:
        bad = check(out)
        if bad: return _report(test, 'nonfinite' if 'finite' in bad else 'wrong', bad)
    return None


def finite(shape):
    "A result check: a tensor of `shape` with finite entries."
    def check(t):
        if not torch.is_tensor(t): return f'not a tensor: {type(t).__name__}'
        if tuple(t.shape) != tuple(shape): return f'shape {tuple(t.shape)}, expected {tuple(shape)}'
        if not torch.isfinite(t).all(): return f'not finite: {t.flatten()[:6].tolist()}'
    return check


# ---------------------------------------------------------------------------------------------------------------
# Circuits and inputs

F = 4
def _circuits():
    mk = lambda leaf, heads=1, depth=1: random_binary_tree(F, depth, 2, 2, 2, leaf, num_heads=heads, seed=0)
    return {'binomial': mk(Binomial(4)), 'gaussian': mk(Gaussian(), 2), 'categorical': mk(Categorical(3), 1, 2),
            'bernoulli': mk(Bernoulli(), 2, 0), 'joint': mk(Joint([(Binomial(4), 2), (Gaussian(), 2)]))}
CIRCUITS = _circuits()
circuits = st.sampled_from(sorted(CIRCUITS))

values = st.one_of(st.integers(0, 4).map(float), st.integers(0, 4).map(float), st.just(math.nan),
                   st.sampled_from([math.inf, -math.inf, 1e20, -1e20, 3.4e38, 1e-30, 0.5, -1., 5., 1e6]),
                   st.floats(allow_nan=True, allow_infinity=True, width=32))
KINDS = ['float32'] * 6 + ['float64', 'int64', 'bool', 'numpy', 'half', 'list', 'str', 'none', 'scalar', '1d', '3d']

@st.composite
def data(draw, kinds=KINDS):
    "A batch `x` in many forms: mostly `(n, F)` float tensors, sometimes of wrong size, rank or type."
    n = draw(st.sampled_from([0, 1, 1, 3, 3]))
    f = draw(st.sampled_from([F] * 6 + [F - 1, F + 1, 0]))
    t = torch.tensor(draw(st.lists(values, min_size=n * f, max_size=n * f)), dtype=torch.float64).reshape(n, f)
    kind = draw(st.sampled_from(kinds))
    if kind == 'float32': return t.float()
    if kind == 'float64': return t
    if kind == 'int64': return t.nan_to_num(0, 0, 0).clamp(-9, 9).long()
    if kind == 'bool': return t.nan_to_num(0) > 0
    if kind == 'numpy': return t.float().numpy()
    if kind == 'half': return t.half()
    if kind == 'list': return t.tolist()
    if kind == 'str': return 'x'
    if kind == 'none': return None
    if kind == 'scalar': return torch.tensor(1.)
    if kind == '1d': return t.float().flatten()
    return t.float()[None]

def _mask_of(draw, x, allow_none):
    opts = (['none'] if allow_none else []) + ['row'] * 3 + ['full'] * 2 + ['int', 'list', 'short', 'str']
    kind = draw(st.sampled_from(opts))
    if kind == 'none': return None
    shape = tuple(x.shape) if torch.is_tensor(x) and x.dim() == 2 else (2, F)
    m = torch.tensor(draw(st.lists(st.booleans(), min_size=F, max_size=F)))
    if kind == 'row': return m
    if kind == 'full': return torch.tensor(draw(st.lists(st.booleans(), min_size=math.prod(shape), max_size=math.prod(shape)))).reshape(shape)
    if kind == 'int': return m.long()
    if kind == 'list': return m.tolist()
    if kind == 'short': return m[:-1]
    return 'all'

heads = st.one_of(st.none(), st.integers(-2, 3), st.booleans(), st.sampled_from([1.0, '0', 10 ** 20, [0]]),
                  st.builds(lambda v, dt: torch.tensor(v, dtype=dt), st.lists(st.integers(-1, 2), max_size=4),
                            st.sampled_from([torch.long, torch.int32, torch.float32, torch.bool, torch.uint8])),
                  st.integers(0, 2).map(torch.tensor))

def _rows(x): return len(x) if torch.is_tensor(x) and x.dim() == 2 else 0


@settings(max_examples=150, **FUZZ)
@given(circuits, data(), st.data())
def test_log_prob(name, x, d):
    c = CIRCUITS[name]
    m = _mask_of(d.draw, x, True)
    shape = (_rows(x),) if c.num_heads == 1 else (_rows(x), c.num_heads)
    with torch.no_grad():
        assert api_outcome('log_prob', lambda: c.log_prob(x, marginalize=m), ['x', 'marginalize'], finite(shape)) is None


@settings(max_examples=120, **FUZZ)
@given(circuits, data(), st.data())
def test_conditional_log_prob(name, x, d):
    c = CIRCUITS[name]
    q = _mask_of(d.draw, x, False)
    shape = (_rows(x),) if c.num_heads == 1 else (_rows(x), c.num_heads)
    with torch.no_grad():
        assert api_outcome('conditional_log_prob', lambda: c.conditional_log_prob(x, q), ['x', 'query'], finite(shape)) is None


@settings(max_examples=120, **FUZZ)
@given(circuits, data(), heads)
def test_mpe(name, x, head):
    c = CIRCUITS[name]
    assert api_outcome('mpe', lambda: c.mpe(x, head=head), ['x', 'head'], finite((_rows(x), F))) is None


taus = st.one_of(st.sampled_from([1.0, 1.0, 0.5, 1e-45, 1e-300, 1e-8, 1e45, 1e300, 0., -1., math.inf, math.nan, 1, True,
                                  '1', None, [1.0]]),
                 st.floats(1e-3, 10.),
                 st.builds(lambda s, v: torch.full(s, v), st.sampled_from([(), (1,), (2,), (3, 1), (2, 2)]),
                           st.sampled_from([0.5, 1e-40, 0., -1., math.nan])))
sizes = st.one_of(st.integers(1, 5), st.sampled_from([0, -1, 10 ** 12, 10 ** 30, 2.0, True, '3', None]))
flags = st.one_of(st.booleans(), st.booleans(), st.sampled_from([0, 1, 'yes', None]))
seeds = st.one_of(st.none(), st.integers(0, 5), st.sampled_from([-1, 1.5, 2 ** 64, 2 ** 70, '1', True]))

@settings(max_examples=200, **FUZZ)
@given(circuits, sizes, st.one_of(st.none(), st.none(), data()), heads, flags, flags, taus, flags, taus, seeds)
def test_sample(name, n, evidence, head, mpe, differentiable, tau, hard, leaf_tau, seed):
    c = CIRCUITS[name]
    kw = {k: v for k, v in dict(evidence=evidence, head=head, mpe=mpe, differentiable=differentiable, tau=tau,
                                 hard=hard, leaf_tau=leaf_tau, seed=seed).items() if v is not None}
    rows = n if isinstance(n, int) and not isinstance(n, bool) else _rows(evidence)
    with torch.no_grad():
        assert api_outcome('sample', lambda: c.sample(n, **kw), ['n', *kw], finite((rows, F))) is None


# ---------------------------------------------------------------------------------------------------------------
# Building circuits

counts = st.one_of(st.integers(1, 3), st.sampled_from([0, -1, 1.5, True, '2', None, 10 ** 6, 10 ** 9, 10 ** 12]))
leaves = st.one_of(st.builds(Binomial, st.sampled_from([1, 4, 255])), st.just(Bernoulli()), st.builds(Categorical, st.sampled_from([2, 5])),
                   st.builds(Gaussian, st.sampled_from([1e-3, 1.])),
                   st.sampled_from(['Binomial', None, Binomial, ('Gaussian', 1), 'gaussian']),
                   st.sampled_from([('Binomial', 0), ('Binomial', 2.5), ('Binomial', 10 ** 30), ('Gaussian', math.inf),
                                    ('Gaussian', math.nan), ('Gaussian', 0.), ('Gaussian', -1.), ('Gaussian', '1'), ('Gaussian', 1e300),
                                    ('Categorical', 1), ('Categorical', 10 ** 12), ('Categorical', 'x')]))

def _leaf(spec):
    if isinstance(spec, tuple) and isinstance(spec[0], str):
        kind, v = spec
        return Binomial(v) if kind == 'Binomial' else Gaussian(v) if kind == 'Gaussian' else Categorical(v)
    return spec

@settings(max_examples=150, **FUZZ)
@given(st.one_of(st.integers(1, 8), st.sampled_from([0, -1, 2.0, '4', None, 10 ** 9])),
       st.one_of(st.integers(0, 3), st.sampled_from([-1, 1.0, 40, 10 ** 6])),
       st.one_of(st.integers(1, 3), st.sampled_from([0, -1, 1.5, '2', 10 ** 4, 10 ** 6])),
       counts, counts, leaves, counts, seeds)
def test_random_binary_tree(num_features, depth, num_repetitions, num_sums, num_leaves, leaf, num_heads, seed):
    def build():
        c = random_binary_tree(num_features, depth, num_repetitions, num_sums, num_leaves, _leaf(leaf), num_heads=num_heads, seed=seed)
        x = torch.zeros(2, num_features)
        with torch.no_grad(): return c.log_prob(x) if c.leaf.support()[0] <= 0 else torch.zeros(2)
    names = ['num_features', 'depth', 'num_repetitions', 'num_sums', 'num_leaves', 'leaf', 'num_heads', 'seed',
             'total_count', 'min_std', 'num_bins']
    def check(t):
        if not torch.isfinite(t).all(): return f'not finite: {t.flatten()[:6].tolist()}'
    assert api_outcome('random_binary_tree', build, names, check) is None


# ---------------------------------------------------------------------------------------------------------------
# Files: Circuit.load

TMP = Path(tempfile.mkdtemp(prefix='pcdiff-fuzz-'))
_SAVED = {}
def _saved(name):
    if name not in _SAVED:
        p = TMP / f'{name}.pt'
        CIRCUITS[name].save(p)
        _SAVED[name] = p
    return _SAVED[name]

class Foreign:
    "A pickled class: loading it would run code, so readers must refuse it."

JUNK = [None, 'x', -1, 0, 1.5, 10 ** 9, 10 ** 12, [], {}, [[0]], math.inf, True]
CONFIG_KEYS = ['regions', 'num_features', 'num_leaves', 'num_sums', 'num_heads', 'leaf']

@st.composite
def corrupted_circuit(draw):
    "`(path, kind)` of a saved circuit with one thing wrong, or a path that is not one."
    name = draw(circuits)
    src = _saved(name)
    kind = draw(st.sampled_from(['ok', 'empty', 'truncate', 'garbage', 'flip', 'foreign', 'tensor', 'list', 'no_format',
                                 'format', 'drop', 'extra', 'reshape', 'nonfinite', 'dtype', 'not_tensor', 'state_not_dict',
                                 'no_config', 'config_drop', 'config_junk', 'config_extra', 'leaf_junk', 'regions_junk',
                                 'path_none', 'path_bytes', 'path_int', 'path_dir', 'path_missing']))
    dst = Path(tempfile.mkdtemp(dir=TMP)) / 'c.pt'
    raw = src.read_bytes()
    obj = torch.load(src, weights_only=True)
    sd, cfg = obj['state_dict'], obj['config']
    key = draw(st.sampled_from(sorted(sd)))
    if kind == 'ok': dst.write_bytes(raw)
    elif kind == 'empty': dst.write_bytes(b'')
    elif kind == 'truncate': dst.write_bytes(raw[:draw(st.integers(1, len(raw) - 1))])
    elif kind == 'garbage': dst.write_bytes(bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=64))))
    elif kind == 'flip':
        i = draw(st.integers(0, len(raw) - 1)); b = bytearray(raw); b[i] ^= 0xFF; dst.write_bytes(bytes(b))
    elif kind == 'foreign': torch.save({'format': 'pcdiff.circuit/1', 'config': Foreign(), 'state_dict': sd}, dst)
    elif kind == 'tensor': torch.save(torch.zeros(3), dst)
    elif kind == 'list': torch.save([1, 2], dst)
    else:
        if kind == 'no_format': del obj['format']
        elif kind == 'format': obj['format'] = draw(st.sampled_from(['pcdiff.train/1', 'x', None, 1]))
        elif kind == 'drop': del sd[key]
        elif kind == 'extra': sd[draw(st.sampled_from(['bogus', 'leaves.leaf.extra', key + '.x']))] = torch.zeros(2)
        elif kind == 'reshape': sd[key] = torch.zeros(*sd[key].shape, 2)
        elif kind == 'nonfinite': sd[key] = sd[key].clone().flatten().index_fill(0, torch.tensor([0]), draw(st.sampled_from([math.nan, math.inf, -math.inf]))).reshape(sd[key].shape)
        elif kind == 'dtype': sd[key] = sd[key].long()
        elif kind == 'not_tensor': sd[key] = draw(st.sampled_from([1.0, None, 'x', [1.0]]))
        elif kind == 'state_not_dict': obj['state_dict'] = draw(st.sampled_from([None, [], 'x']))
        elif kind == 'no_config': del obj['config']
        elif kind == 'config_drop': del cfg[draw(st.sampled_from(CONFIG_KEYS))]
        elif kind == 'config_junk': cfg[draw(st.sampled_from(CONFIG_KEYS))] = draw(st.sampled_from(JUNK))
        elif kind == 'config_extra': cfg['bogus'] = 1
        elif kind == 'leaf_junk': cfg['leaf'] = draw(st.sampled_from([{'name': 'Gaussian', 'min_std': math.inf}, {'name': 'Binomial', 'total_count': 0},
                                                                      {'name': 'Nope'}, {'name': 'Binomial', 'bogus': 1}, 'Binomial', {}, None,
                                                                      {'name': 'Categorical', 'num_bins': 10 ** 12}]))
        elif kind == 'regions_junk': cfg['regions'] = draw(st.sampled_from([[[[0, 1], [2, 9]]], [[[0, 1, 2, 3]]], [[[0.5, 1], [2, 3]]], [], 'x',
                                                                            [[[0, 1], [2]]], [[[0, 0], [2, 3]]], [[[-1, 1], [2, 3]]]]))
        torch.save(obj, dst)
    if kind == 'path_none': return None, kind
    if kind == 'path_bytes': return bytes(src), kind
    if kind == 'path_int': return 3, kind
    if kind == 'path_dir': return dst.parent, kind
    if kind == 'path_missing': return dst.parent / 'missing.pt', kind
    return dst, kind

@settings(max_examples=150, **FUZZ)
@given(corrupted_circuit())
def test_circuit_load(case):
    path, kind = case
    def load_and_use():
        c = Circuit.load(path)
        x = torch.zeros(2, c.num_features)
        with torch.no_grad(): return c.log_prob(x).reshape(2, -1) if c.leaf.support()[0] <= 0 else torch.zeros(2, 1)
    def check(t):
        if not torch.isfinite(t).all(): return f'not finite after loading a {kind!r} file: {t.flatten()[:4].tolist()}'
    names = [str(path), 'path'] if isinstance(path, (str, Path)) else ['path']
    assert api_outcome(f'load[{kind}]', load_and_use, names, check) is None


# ---------------------------------------------------------------------------------------------------------------
# The command line

def cli_outcome(test, argv):
    "Run `main(argv)`; `None` if it exits 0, or 2 with one `pcdiff CMD: error:` line, else what went wrong."
    err, out = io.StringIO(), io.StringIO()
    code = 0
    try:
        with _deadline(TIMEOUT), contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
            code = main([str(a) for a in argv])
    except _Hang: return _report(test, 'hang', f'{argv}: no answer within {TIMEOUT} s')
    except SystemExit as e: code = e.code
    except Exception as e: return _report(test, 'crash', f'{argv}: {type(e).__name__}: {str(e)[:200]}')
    text = err.getvalue()
    if UNSAFE in text + out.getvalue(): return _report(test, 'unsafe', f'{argv}: {text[-300:]}')
    if code == 0: return None
    lines = [l for l in text.splitlines() if l.strip()]
    usage = lines[:-1] and all(l.startswith(('usage:', ' ')) for l in lines[:-1])   # argparse's usage, then the error
    one_line = len(lines) == 1 or usage
    diverged = code == 1 and 'became' in text           # training diverged: a run-time outcome, not bad input
    if (code == 2 or diverged) and one_line and re.match(r'pcdiff( \w+)?: error: \S', lines[-1]): return None
    return _report(test, 'crash' if 'Traceback' in text or code not in (1, 2) else 'vague',
                   f'{argv}: exit {code}: {text[-300:]!r}')


_RUN = {}
def _run():
    "A finished tiny run (2-moons, one epoch), trained once."
    if 'run' not in _RUN:
        run = TMP / 'run'
        with contextlib.redirect_stdout(io.StringIO()):
            assert main(['train', '--dataset', '2-moons', '--epochs', '1', '--sums', '2', '--leaves', '2', '--repetitions', '1',
                         '--quiet', '--device', 'cpu', '--out', str(run)]) == 0
        _RUN['run'] = run
    return _RUN['run']

INT_ARGS = st.sampled_from(['0', '1', '2', '-1', '1.5', 'x', '', '1e3', '99999999999999999999', '1000000'])
FLOAT_ARGS = st.sampled_from(['0', '0.1', '0.5', '1', '-1', 'nan', 'inf', '1e30', 'x', '1e-320'])
TRAIN_FLAGS = {
    '--objective': st.sampled_from(['ll', 'mmd', 'nope', '']), '--dataset': st.sampled_from(['2-moons', '2-circles', 'nope', 'mnist']),
    '--epochs': st.sampled_from(['1', '0', '-1', 'x', '1.5']), '--lr': FLOAT_ARGS, '--batch-size': INT_ARGS,
    '--depth': st.sampled_from(['0', '1', '30', '-1', 'x']), '--repetitions': st.sampled_from(['1', '2', '0', '-3', 'x']),
    '--sums': st.sampled_from(['1', '2', '0', '10000000000', 'x']), '--leaves': st.sampled_from(['1', '2', '0', '1000000', '-2']),
    '--leaf': st.sampled_from(['auto', 'gaussian', 'binomial', 'poisson']), '--seed': INT_ARGS,
    '--device': st.sampled_from(['cpu', 'auto', 'cuda:9', 'tpu', '']), '--em-stepsize': FLOAT_ARGS, '--em-frequency': INT_ARGS,
    '--schedule': st.sampled_from(['constant', 'cosine', 'step']), '--max-items': INT_ARGS, '--samples': INT_ARGS,
    '--objective-kwargs': st.sampled_from(['{}', '[]', '1', 'null', 'notjson', '{"bogus": 1}', '{"tau": 0}', '{"tau": "x"}']),
    '--root': st.sampled_from(['/nonexistent', '']), '--em': None, '--conditional': None, '--amp': None, '--resume': None,
    '--download': None}

@st.composite
def train_argv(draw):
    argv = ['train', '--epochs', '1', '--sums', '2', '--leaves', '2', '--repetitions', '1', '--dataset', '2-moons', '--quiet',
            '--device', 'cpu', '--out', tempfile.mkdtemp(dir=TMP)]
    for flag in draw(st.lists(st.sampled_from(sorted(TRAIN_FLAGS)), min_size=1, max_size=3, unique=True)):
        argv += [flag] if TRAIN_FLAGS[flag] is None else [flag, draw(TRAIN_FLAGS[flag])]
    return argv

@settings(max_examples=40, **FUZZ)
@given(train_argv())
def test_cli_train_args(argv):
    assert cli_outcome('cli train', argv) is None


@st.composite
def other_argv(draw):
    cmd = draw(st.sampled_from(['eval', 'sample', 'bench', 'reproduce', 'grid', 'nope', '']))
    if cmd in ('eval', 'sample'):
        argv = [cmd, draw(st.sampled_from(['RUN', 'RUN', 'RUN', 'no/such/run', '', 'RUN/best.pt']))]
        opts = {'-n': st.sampled_from(['1', '3', '0', '-1', 'x', '1000000000000', '1e3']), '--seed': INT_ARGS,
                '--device': st.sampled_from(['cpu', 'cuda:9', 'tpu']), '--out': st.sampled_from(['OUT/s.png', 'OUT', '/proc/x/s.png'])}
        del opts['--out' if cmd == 'eval' else '--device']
        if cmd == 'eval': argv += ['--device', 'cpu']
    elif cmd == 'bench': argv, opts = [cmd, draw(st.sampled_from(['inference', 'speed']))], {'--device': st.sampled_from(['tpu', 'cuda:9', ''])}
    elif cmd == 'reproduce':
        argv = [cmd, draw(st.sampled_from(['all', 'synthetic', 'nope']))]
        opts = {'--seeds': st.sampled_from(['0', '-1', 'x']), '--epochs': st.sampled_from(['0', '-2', '1.5']),
                '--workers': st.sampled_from(['0', '-1']), '--grid-epochs': st.sampled_from(['0', 'x']),
                '--dataset': st.sampled_from(['mnist', 'nope']), '--max-items': st.sampled_from(['0', '-5'])}
    elif cmd == 'grid':
        argv = [cmd, '--epochs', '1', '--dataset', '2-moons', '--quiet', '--device', 'cpu', '--out', 'OUT']
        opts = {'--lrs': st.sampled_from(['0', '-1', 'nan', 'x']), '--batch-sizes': st.sampled_from(['0', '-1', '1.5']),
                '--seeds': st.sampled_from(['-1', 'x', '99999999999999999999'])}
    else: argv, opts = [cmd], {}
    chosen = draw(st.lists(st.sampled_from(sorted(opts)), min_size=1 if cmd in ('bench', 'reproduce', 'grid') else 0,
                           max_size=2, unique=True)) if opts else []
    for flag in chosen: argv += [flag, draw(opts[flag])]
    return argv

@settings(max_examples=80, **FUZZ)
@given(other_argv())
def test_cli_other_args(argv):
    out = tempfile.mkdtemp(dir=TMP)
    run = Path(tempfile.mkdtemp(dir=TMP)) / 'run'
    shutil.copytree(_run(), run)
    argv = [a.replace('RUN', str(run)).replace('OUT', out) for a in argv]
    assert cli_outcome('cli ' + argv[0], argv) is None


BYTES = ['empty', 'truncate', 'garbage', 'foreign', 'tensor', 'no_format', 'other_format', 'directory', 'missing']
CONFIGS = ['', 'not json', '[]', 'null', '1', '{"bogus": 1}', '{"epochs": "x"}', '{"dataset": "nope"}', '{"dataset": 5}',
           '{"leaf": "binomial"}', '{"objective": []}', '{"objective_kwargs": "x"}', '{"depth": 7}']

def _corrupt(path, kind, draw):
    raw = path.read_bytes()
    path.unlink()
    if kind == 'empty': path.write_bytes(b'')
    elif kind == 'truncate': path.write_bytes(raw[:draw(st.integers(1, len(raw) - 1))])
    elif kind == 'garbage': path.write_bytes(bytes(draw(st.lists(st.integers(0, 255), min_size=1, max_size=64))))
    elif kind == 'foreign': torch.save({'format': 'pcdiff.circuit/1', 'x': Foreign()}, path)
    elif kind == 'tensor': torch.save(torch.zeros(2), path)
    elif kind == 'no_format': torch.save({'config': {}}, path)
    elif kind == 'other_format': torch.save({'format': 'pcdiff.train/1' if path.name == 'best.pt' else 'pcdiff.circuit/1'}, path)
    elif kind == 'directory': path.mkdir()

@st.composite
def broken_run(draw):
    "`(argv, which file, how)`: eval, sample or train --resume on a copy of a run with one file broken."
    cmd = draw(st.sampled_from(['eval', 'sample', 'resume']))
    which = draw(st.sampled_from(['last.pt', 'config.json'] if cmd == 'resume' else ['best.pt', 'config.json']))
    how = draw(st.sampled_from(BYTES if which.endswith('.pt') else CONFIGS + ['missing']))
    run = Path(tempfile.mkdtemp(dir=TMP)) / 'run'
    shutil.copytree(_run(), run)
    if which.endswith('.pt'): _corrupt(run / which, how, draw)
    elif how == 'missing': (run / which).unlink()
    else:
        text = how
        if how.startswith('{') and how != '{}':
            text = json.dumps({**json.loads((run / which).read_text()), **json.loads(how)})
        (run / which).write_text(text)
    if cmd == 'resume':
        argv = ['train', '--dataset', '2-moons', '--epochs', '2', '--sums', '2', '--leaves', '2', '--repetitions', '1',
                '--quiet', '--device', 'cpu', '--resume', '--out', str(run)]
    else: argv = [cmd, str(run)] + (['-n', '4'] if cmd == 'sample' else ['-n', '20', '--device', 'cpu'])
    return argv, which, how

@settings(max_examples=60, **FUZZ)
@given(broken_run())
def test_cli_broken_files(case):
    argv, which, how = case
    assert cli_outcome(f'cli {argv[0]} {which}={how}', argv) is None


# ---------------------------------------------------------------------------------------------------------------
# Regressions: the smallest failing inputs the fuzz found, one test each

def test_empty_batches_give_empty_results():
    c = CIRCUITS['gaussian']                                   # two heads
    x, q = torch.zeros(0, F), torch.tensor([True, False, True, False])
    with torch.no_grad():
        assert c.log_prob(x).shape == (0, 2) and c.conditional_log_prob(x, q).shape == (0, 2)
        assert CIRCUITS['binomial'].log_prob(x).shape == (0,) and c.mpe(x).shape == (0, F)


def test_gaussian_huge_values_have_finite_log_density():
    c = CIRCUITS['gaussian']
    x = torch.tensor([[1e20, 0., -3e38, 0.5]])
    lp = c.log_prob(x)
    lp.sum().backward()
    assert torch.isfinite(lp).all() and (lp < -1e29).all()
    assert all(torch.isfinite(p.grad).all() for p in c.parameters())
    c.zero_grad()
    with pytest.raises(ValueError, match='min_std must be a finite number'): Gaussian(min_std=math.inf)


def test_relaxed_sampling_temperatures():
    from pcdiff.selection import TAU_MIN
    c = CIRCUITS['categorical']
    with pytest.raises(ValueError, match=r'tau must be a finite number >= 1e-06, got 1e-45'): c.sample(2, differentiable=True, tau=1e-45)
    for bad in ['1', None]:
        with pytest.raises(TypeError, match='tau must be a float'): c.sample(2, differentiable=True, tau=bad)
    with pytest.raises(ValueError, match=r'tau must be a float or a tensor of shape \(\) or \(1,\), got shape \(3, 1\)'):
        c.sample(2, differentiable=True, tau=torch.ones(3, 1))
    s = c.sample(2, differentiable=True, tau=TAU_MIN, seed=0)
    s.sum().backward()
    assert torch.isfinite(s).all() and all(torch.isfinite(p.grad).all() for p in c.parameters())
    c.zero_grad()


def test_sizes_refused_before_allocating():
    with pytest.raises(ValueError, match='seed must be an int in'): random_binary_tree(4, 1, 1, 2, 2, Bernoulli(), seed=1.5)
    with pytest.raises(ValueError, match='num_heads=1000000000 .* would need'):
        random_binary_tree(64, 3, 10, 10, 10, Binomial(16), num_heads=10 ** 9)
    with pytest.raises(ValueError, match='n=1000000000000 samples would need'): CIRCUITS['binomial'].sample(10 ** 12)


def test_bools_are_not_heads():
    with pytest.raises(TypeError, match='head must be None, an int or an integer tensor, got True'):
        CIRCUITS['bernoulli'].mpe(torch.zeros(2, F), head=True)


def _one_line_error(argv, *expected):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()), pytest.raises(SystemExit) as e: main(argv)
    text = err.getvalue()
    assert e.value.code == 2 and text.count('\n') == 1 and text.startswith(f'pcdiff {argv[0]}: error: '), text
    assert UNSAFE not in text and all(s in text for s in expected), text


def test_cli_damaged_run_files():
    run = Path(tempfile.mkdtemp(dir=TMP)) / 'run'
    shutil.copytree(_run(), run)
    (run / 'last.pt').write_bytes((run / 'last.pt').read_bytes()[:300])
    _one_line_error(['train', '--dataset', '2-moons', '--epochs', '2', '--sums', '2', '--leaves', '2', '--repetitions', '1',
                     '--quiet', '--device', 'cpu', '--resume', '--out', str(run)], 'last.pt is not a readable pcdiff file')
    torch.save({'format': 'pcdiff.circuit/1', 'x': Foreign()}, run / 'best.pt')
    _one_line_error(['eval', str(run), '--device', 'cpu'], 'best.pt is not a readable pcdiff file: it holds data other than tensors')
    (run / 'config.json').write_text('{"bogus": 1}')
    _one_line_error(['sample', str(run)], "config.json has unknown settings ['bogus']")
