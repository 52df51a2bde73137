import shutil, sys
from pathlib import Path
import pytest
sys.path.insert(0, str(Path(__file__).resolve().parent))
from check_browser import Browser, check_page

chromium = next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)

GOOD = """<html><body><table><tr><td><code>p(x &#124; y)</code></td></tr></table>
<img src="data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==">
</body></html>"""
BAD = """<html><body><p>| a | b | |---|---| | 1 | 2 |</p>
<table><tr><td><code>p(x \\| y)</code></td></tr></table>
<img src="missing.png"><img src="data:image/png;base64,iVBORw0KGgo=">
<script>console.error('logged'); throw new Error('thrown');</script></body></html>"""

@pytest.mark.skipif(chromium is None, reason='Chromium is not installed')
def test_check_page_finds_what_a_reader_would_see(tmp_path):
    (tmp_path/'good.html').write_text(GOOD); (tmp_path/'bad.html').write_text(BAD)
    b = Browser(chromium)
    try: good, bad = (check_page(b, tmp_path/f'{n}.html', tmp_path) for n in ('good', 'bad'))
    finally: b.close()
    assert good['problems'] == [] and good['images'] == 1 and good['tables'] == 1
    assert (tmp_path/'good.png').stat().st_size > 0                              # the screenshot
    found = '\n'.join(bad['problems'])
    for what in ['missing.png: net::ERR_FILE_NOT_FOUND', 'console.error: logged', 'Error: thrown',
                 '2 pictures do not decode', 'not rendered as tables', 'backslash of \\|']:
        assert what in found, f'{what!r} not reported in:\n{found}'
