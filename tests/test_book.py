"""The book shows its results: every chapter stores the outputs the site renders (no execution here).
After changing a notebook, store its outputs with `python tests/execute_notebooks.py nbs/NAME.ipynb`."""
import json, re, sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_notebooks import ROOT, directives

NBS = sorted((ROOT/'nbs').glob('*.ipynb'))
PICTURES = ('image/png', 'image/svg+xml')
WIDGET_VIEW, WIDGET_STATE = 'application/vnd.jupyter.widget-view+json', 'application/vnd.jupyter.widget-state+json'
_plots = re.compile(r'\b(plt\.(?!close\b)\w+|show_(images|tau)|draw_(circuit|graph|tree)|imshow|plot)\s*\(')
_code_span = re.compile(r'(`+)(.+?)\1')
_decimal = re.compile(r'(?<![\w.])-?\d+\.\d+(?![\w.])')

def load(path): return json.loads(Path(path).read_text())
def src(cell): return ''.join(cell['source'])
def code_cells(nb): return [c for c in nb['cells'] if c['cell_type'] == 'code']
def has_picture(outputs): return any(k in o.get('data', {}) for o in outputs for k in PICTURES)
def uses_widgets(cell): return 'ipywidgets' in src(cell) or re.search(r'\binteract\w*\s*\(', src(cell)) is not None

def top_level(source):
    "The lines of `source` outside function and class bodies (a definition plots nothing until it is called)."
    out, body = [], None
    for line in source.splitlines():
        indent = len(line) - len(line.lstrip())
        if body is not None and (not line.strip() or indent > body): continue
        body = indent if re.match(r'\s*(async\s+def|def|class)\s', line) else None
        if body is None: out.append(line)
    return '\n'.join(out)

def is_plotting(cell) -> bool:
    "A code cell, not exported, that draws a figure or returns one at top level."
    if cell['cell_type'] != 'code' or 'export' in directives(src(cell)): return False
    code = '\n'.join(l for l in top_level(src(cell)).splitlines() if not l.lstrip().startswith('test_fail('))
    last = code.strip().splitlines()[-1] if code.strip() else ''
    return bool(_plots.search(code)) or re.fullmatch(r'(fig\w*|\w+\.figure)', last.strip()) is not None

def widget_pictures(nb) -> bool:
    "Whether the stored widget state holds an Output widget with a picture (an interactive plot's frame)."
    state = nb['metadata'].get('widgets', {}).get(WIDGET_STATE, {}).get('state', {})
    return any(has_picture(m.get('state', {}).get('outputs', [])) for m in state.values())

def pipes_in_table_code(md:str) -> list:
    """Code spans with a `|` in the rows of markdown tables: a bare `|` splits the row, and nbconvert and pandoc show
    the backslash of `\\|`; `<code>a &#124; b</code>` renders everywhere."""
    return [m.group(0) for line in md.splitlines() if line.lstrip().startswith('|')
            for m in _code_span.finditer(line) if '|' in m.group(2)]

def output_text(o) -> str:
    d = o.get('data', {})
    return ''.join(o.get('text', '')) + ''.join(d.get('text/plain', '')) + ''.join(d.get('text/markdown', ''))

def unshown_numbers(nb) -> dict:
    "Decimals quoted in 'What we saw' cells that no output or code of the cells above shows, by cell index."
    shown, out = set(), {}
    for i, c in enumerate(nb['cells']):
        if c['cell_type'] == 'code':
            text = src(c) + ' ' + ' '.join(output_text(o) for o in c.get('outputs', []))
            shown |= {float(x) for x in _decimal.findall(text)}
        elif src(c).startswith('What we saw'):
            missing = [x for x in _decimal.findall(_code_span.sub('', src(c))) if float(x) not in shown]
            if missing: out[i] = missing
    return out

def test_top_level_and_plotting():
    assert top_level("def f():\n    plt.plot(1)\n\nx = 1") == "x = 1"
    cell = lambda s: dict(cell_type='code', source=s)
    assert is_plotting(cell("fig, ax = plt.subplots()\nax.plot([1])"))
    assert is_plotting(cell("@interact(a=1)\ndef f(a):\n    show_images(a)\nr = 1\nfig"))
    assert not is_plotting(cell("def f(a):\n    show_images(a)")) and not is_plotting(cell("x = 1\nplt.close('all')"))
    assert not is_plotting(cell("#| export\ndef f():\n    return 1\nplt.plot(1)"))
    nb = dict(cells=[dict(cell_type='code', source='x = 0.5', outputs=[dict(output_type='stream', text='mean 3.10\n')]),
                     dict(cell_type='markdown', source='What we saw: 3.1 and 0.50, not 2.7 (`0.3`).')])
    assert unshown_numbers(nb) == {1: ['2.7']}
    assert directives("#| hide\n#|slow\nx = 1  #| export") == {'hide', 'slow'}
    assert pipes_in_table_code("| a | b | c |\n|---|---|---|\n| `p(x | y)` | `p(x \\| y)` | <code>p(x &#124; y)</code> |\n"
                               "`a | b` outside a table") == ['`p(x | y)`', '`p(x \\| y)`']

@pytest.mark.parametrize('path', NBS, ids=[p.name for p in NBS])
def test_chapter_shows_its_results(path):
    nb = load(path)
    cells = code_cells(nb)
    assert any(c.get('outputs') for c in cells), f"{path.name} stores no outputs: run tests/execute_notebooks.py"
    errors = [i for i, c in enumerate(nb['cells']) for o in c.get('outputs', []) if o['output_type'] == 'error']
    assert not errors, f"{path.name}: cells {errors} store an error"
    for i, c in enumerate(nb['cells']):
        if not is_plotting(c) or has_picture(c.get('outputs', [])): continue
        shows_widget = any(WIDGET_VIEW in o.get('data', {}) for o in c.get('outputs', []))
        assert shows_widget and widget_pictures(nb), f"{path.name}, cell {i} plots but stores no picture:\n{src(c)[:300]}"

@pytest.mark.parametrize('path', NBS, ids=[p.name for p in NBS])
def test_widgets_have_state(path):
    nb = load(path)
    if not any(uses_widgets(c) for c in code_cells(nb)): return
    state = nb['metadata'].get('widgets', {}).get(WIDGET_STATE, {}).get('state', {})
    assert state, f"{path.name} uses ipywidgets but stores no widget state (metadata.widgets)"
    views = [o['data'][WIDGET_VIEW]['model_id'] for c in code_cells(nb) for o in c.get('outputs', [])
             if WIDGET_VIEW in o.get('data', {})]
    assert views, f"{path.name} uses ipywidgets but no cell shows a widget"
    missing = [v for v in views if v not in state]
    assert not missing, f"{path.name}: widgets {missing} are shown but their state is not stored"

@pytest.mark.parametrize('path', NBS, ids=[p.name for p in NBS])
def test_table_code_has_no_pipes(path):
    bad = {i: pipes_in_table_code(src(c)) for i, c in enumerate(load(path)['cells']) if c['cell_type'] == 'markdown'}
    bad = {i: v for i, v in bad.items() if v}
    assert not bad, f"{path.name}: a `|` in a code span in a table; write <code>a &#124; b</code> (cells: {bad})"

@pytest.mark.parametrize('path', NBS, ids=[p.name for p in NBS])
def test_quoted_numbers_are_shown(path):
    missing = unshown_numbers(load(path))
    assert not missing, f"{path.name}: 'What we saw' quotes numbers no output above shows (cell: numbers): {missing}"
