from readme import render, ROOT

def test_readme_is_rendered_from_index():
    assert (ROOT/'README.md').read_text() == render(), "README.md is stale: run `python tests/readme.py`"

def test_readme_has_the_two_commands():
    text = (ROOT/'README.md').read_text()
    assert 'pcdiff train --dataset digits' in text and 'bash tests/run_all.sh' in text
