import re
from readme import render, first_command, ROOT

def test_readme_is_rendered_from_index():
    assert (ROOT/'README.md').read_text() == render(), "README.md is stale: run `python tests/readme.py`"

def test_readme_has_the_two_commands():
    text = (ROOT/'README.md').read_text()
    assert 'pcdiff train --dataset digits' in text and 'bash tests/run_all.sh' in text

def test_first_command_installs_and_runs_the_cli():
    cmd = first_command()
    assert cmd.startswith('python3 -m venv .venv && . .venv/bin/activate && pip install -e . && ')
    run = re.search(r'pcdiff train --dataset digits .*--out (\S+)', cmd).group(1)     # the main job's run folder
    for step in (f'pcdiff eval {run}', f'pcdiff sample {run}'): assert step in cmd
