"""Everything `nbdev_docs` does short of the quarto binary: nbdev's notebook processing for the docs,
then an HTML render (nbconvert) of every processed notebook. Exits non-zero on the first failure."""
import subprocess, sys
from pathlib import Path
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
from nbdev.serve import proc_nbs
import nbdev.doclinks

def render() -> list:
    "Process the notebooks as `nbdev_docs` does and render each to HTML; returns the HTML pages."
    cfg = get_config()
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    cache = proc_nbs(cfg.nbs_path, n_workers=2, force=True)
    nbs = sorted(Path(cache).glob('*.ipynb'))
    if not nbs: sys.exit(f'no processed notebooks in {cache}')
    out = Path(cache)/'_html'
    for nb in nbs:
        r = subprocess.run([sys.executable, '-m', 'nbconvert', '--to', 'html', '--output-dir', str(out), str(nb)],
                           capture_output=True, text=True)
        if r.returncode: sys.exit(f'HTML render failed for {nb.name}:\n{r.stderr}')
    return [out/f'{nb.stem}.html' for nb in nbs]

def main():
    pages = render()
    print(f'{len(pages)} notebooks processed and rendered to HTML in {pages[0].parent}')

if __name__ == '__main__': main()
