"""README.md is rendered from nbs/index.ipynb: markdown cells as they are, code cells as python blocks, hidden
cells and nbdev directives left out. `python tests/readme.py` writes it; tests/test_readme.py checks it is current.
(`nbdev_docs`, where Quarto is installed, renders the same notebook with outputs.)
`first_command` is the README's first shell command, which tests/first_command.py runs on a fresh environment."""
import json, re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def render(nb_path=ROOT/'nbs'/'index.ipynb') -> str:
    nb = json.loads(Path(nb_path).read_text())
    parts = []
    for cell in nb['cells']:
        lines = ''.join(cell['source']).split('\n')
        if cell['cell_type'] == 'markdown':
            parts.append('\n'.join(lines))
            continue
        if any(l.strip() in ('#| hide', '#|hide') for l in lines): continue
        code = '\n'.join(l for l in lines if not l.startswith('#|')).strip()
        if code: parts.append(f'```python\n{code}\n```')
    text = '\n\n'.join(parts) + '\n'
    return text

def first_command(text:str=None) -> str:
    "The first ```sh block of README.md (or of `text`), as one line of shell."
    text = (ROOT/'README.md').read_text() if text is None else text
    m = re.search(r'```sh\n(.*?)\n```', text, re.S)
    if m is None: raise ValueError("README.md has no ```sh block")
    return m.group(1).strip()

if __name__ == '__main__':
    (ROOT/'README.md').write_text(render())
