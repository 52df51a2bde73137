"""Everything `nbdev_docs` does short of the quarto binary: nbdev's notebook processing for the docs,
then an HTML render (nbconvert) of every processed notebook. Exits non-zero on the first failure.
The HTML shows what quarto would: the front matter as the title, no code of `#| echo: false` cells, no prompts."""
import re, subprocess, sys
from pathlib import Path
import nbformat, yaml
from nbdev.config import get_config
from nbdev.quarto import refresh_quarto_yml, nbdev_sidebar
from nbdev.serve import proc_nbs
import nbdev.doclinks

_front = re.compile(r'^---\n(.*?)\n---', re.S)
_echo_false = re.compile(r'^#\|\s*echo:\s*false\s*$', re.M)
_attrs = re.compile(r'(\]\([^)]*\))\{[^}]*\}')                    # pandoc attributes of a link: [a](b){target=...}

def as_quarto_shows(nb):
    "`nb` as quarto renders it, for nbconvert: front matter as title, `#| echo: false` inputs removed, plain links."
    for c in nb.cells:
        m = _front.match(c.source) if c.cell_type == 'raw' else None
        if m:
            meta = yaml.safe_load(m.group(1)) or {}
            c.cell_type, c.source = 'markdown', f"# {meta.get('title', '')}\n\n> {meta.get('description', '')}"
            c.pop('outputs', None); c.pop('execution_count', None)
        if c.cell_type == 'code' and _echo_false.search(c.source): c.metadata.setdefault('tags', []).append('remove_input')
        for o in c.get('outputs', []):
            if 'text/markdown' in o.get('data', {}): o.data['text/markdown'] = _attrs.sub(r'\1', o.data['text/markdown'])
    return nb

def render() -> list:
    "Process the notebooks as `nbdev_docs` does and render each to HTML; returns the HTML pages."
    cfg = get_config()
    refresh_quarto_yml()
    nbdev.doclinks._build_modidx()
    nbdev_sidebar.__wrapped__(path=cfg.nbs_path)
    cache = proc_nbs(cfg.nbs_path, n_workers=2, force=True)
    nbs = sorted(Path(cache).glob('*.ipynb'))
    if not nbs: sys.exit(f'no processed notebooks in {cache}')
    shown, out = Path(cache)/'_shown', Path(cache)/'_html'
    shown.mkdir(exist_ok=True)
    for nb in nbs:
        nbformat.write(as_quarto_shows(nbformat.read(nb, as_version=4)), shown/nb.name)
        r = subprocess.run([sys.executable, '-m', 'nbconvert', '--to', 'html', '--no-prompt', '--output-dir', str(out),
                            '--TagRemovePreprocessor.remove_input_tags=remove_input', str(shown/nb.name)],
                           capture_output=True, text=True)
        if r.returncode: sys.exit(f'HTML render failed for {nb.name}:\n{r.stderr}')
    return [out/f'{nb.stem}.html' for nb in nbs]

def main():
    pages = render()
    print(f'{len(pages)} notebooks processed and rendered to HTML in {pages[0].parent}')

if __name__ == '__main__': main()
