"""Run notebooks top to bottom and store their outputs in place, as the book shows them.

    OMP_NUM_THREADS=1 python tests/execute_notebooks.py [--slow] [NOTEBOOK ...]    # default: every nbs/*.ipynb

Each notebook runs in a fresh kernel with nbs/ (the notebook's folder) as working directory, as `nbdev_test` runs
it. Cells flagged `#| slow` are skipped and keep the outputs stored in them (they take up to an hour; `--slow`
runs them too). The state of ipywidgets is stored in the notebook's metadata, so that a page shows a widget without
a kernel. A notebook is written only when all its cells ran; then `nbdev_clean` tidies it. Exits non-zero on the
first failing notebook, naming it and the cell."""
import argparse, os, re, sys, time
from pathlib import Path
import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError
from nbdev.clean import nbdev_clean

ROOT = Path(__file__).resolve().parents[1]
_directive = re.compile(r'^\s*#\s*\|\s*(\w+)')

def directives(source:str) -> set:
    "The names of the nbdev directives (`#| slow`, `#|export`, ...) at the top of a cell's `source`."
    names = set()
    for line in source.splitlines():
        m = _directive.match(line)
        if not m: break
        names.add(m.group(1))
    return names

def is_slow(cell) -> bool: return cell.cell_type == 'code' and 'slow' in directives(cell.source)

class BookClient(NotebookClient):
    "Executes every code cell except those flagged `#| slow` (unless `slow`), which keep their stored outputs."
    def __init__(self, nb, slow=False, **kw):
        super().__init__(nb, **kw); self.run_slow = slow
    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        if is_slow(cell) and not self.run_slow: return cell
        return await super().async_execute_cell(cell, cell_index, execution_count, store_history)

def execute(path:Path, slow=False, timeout=3600) -> float:
    "Execute the notebook at `path` in place; returns the seconds it took."
    nb = nbformat.read(path, as_version=4)
    t = time.perf_counter()
    BookClient(nb, slow=slow, timeout=timeout, kernel_name='python3', store_widget_state=True,
               resources={'metadata': {'path': str(path.parent)}}).execute()
    nbformat.write(nb, path)
    nbdev_clean.__wrapped__(fname=str(path))                 # with the settings of the repository (cwd)
    return time.perf_counter() - t

def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('notebooks', nargs='*', type=Path, help='notebooks to run (default: every nbs/*.ipynb)')
    p.add_argument('--slow', action='store_true', help='run the cells flagged `#| slow` too')
    p.add_argument('--timeout', type=int, default=3600, help='seconds one cell may take')
    a = p.parse_args(argv)
    nbs = [nb.resolve() for nb in a.notebooks] or sorted((ROOT/'nbs').glob('*.ipynb'))
    os.chdir(ROOT)
    total = 0.
    for nb in nbs:
        try: s = execute(nb, a.slow, a.timeout)
        except CellExecutionError as e: sys.exit(f'{nb}: a cell failed, notebook left unchanged\n{e}')
        total += s
        print(f'{s:7.1f} s  {os.path.relpath(nb)}', flush=True)
    print(f'{total:7.1f} s  in all ({len(nbs)} notebooks)')

if __name__ == '__main__': main()
