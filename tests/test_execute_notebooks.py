import os, sys
from pathlib import Path
import nbformat
from nbformat.v4 import new_notebook, new_code_cell, new_output
sys.path.insert(0, str(Path(__file__).resolve().parent))
from execute_notebooks import ROOT, execute

def test_execute_stores_outputs_keeps_slow_cells_and_widget_state(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)                                   # nbdev_clean reads the repository's settings
    kept = new_output('stream', name='stdout', text='stored by an earlier run\n')
    nb = new_notebook(cells=[
        new_code_cell("import os\nprint(os.getcwd())"),
        new_code_cell("#| slow\nraise RuntimeError('a slow cell ran')", outputs=[kept]),
        new_code_cell("#|slow\nraise RuntimeError('a slow cell ran')"),
        new_code_cell("import ipywidgets as w\nw.IntSlider(value=3)")],
        metadata=dict(kernelspec=dict(name='python3', display_name='python3', language='python')))
    path = tmp_path/'nb.ipynb'
    nbformat.write(nb, path)
    execute(path)
    out = nbformat.read(path, as_version=4)
    assert out.cells[0].outputs[0].text.strip() == str(tmp_path)             # run in the notebook's folder
    assert out.cells[1].outputs == [kept] and out.cells[2].outputs == []       # slow cells skipped, outputs kept
    state = out.metadata.widgets['application/vnd.jupyter.widget-state+json']['state']
    view = out.cells[3].outputs[0].data['application/vnd.jupyter.widget-view+json']['model_id']
    assert state[view]['state']['value'] == 3
    assert all(c.execution_count is None for c in out.cells)                   # cleaned by nbdev_clean
