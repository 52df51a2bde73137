"""Open every page of the book in headless Chromium and check what a reader sees.

    python tests/check_browser.py                 # render every notebook (as tests/check_docs.py) and check the pages
    nbdev_docs && python tests/check_browser.py _docs    # pages rendered already (files or folders): quarto's

A page fails when a script on it throws or logs an error, a picture is missing or does not decode, a markdown table
(in the notebook's prose or in a markdown output) is not rendered as a <table> or shows the backslash of `\\|`, or
a notebook's stored widget state is not on its page. Resources from other hosts that do not load (offline, e.g. the
widget manager from a CDN) are listed, not counted as failures. A full-page screenshot of every page goes to
`_browser/` (not committed).
Needs Chromium (Debian: `apt-get install -y chromium`) and the `websocket-client` package; drives Chromium through
the DevTools protocol."""
import argparse, json, os, re, shutil, subprocess, sys, tempfile, time, base64, urllib.request
from pathlib import Path
from urllib.parse import urlparse
import websocket

ROOT = Path(__file__).resolve().parents[1]
FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
         '--disable-component-update', '--disable-sync', '--hide-scrollbars', '--remote-debugging-port=0']
WIDTH, TILE = 1280, 6000
PICTURES = ('image/png', 'image/svg+xml', 'image/jpeg')
WIDGET_STATE = 'application/vnd.jupyter.widget-state+json'
_table_rule = re.compile(r'^\s*\|?\s*:?-{3,}:?\s*\|', re.M)          # the |---|---| line under a table's header

PAGE_JS = r"""(() => {
  const imgs = Array.from(document.images);
  const state = document.querySelector('script[type="application/vnd.jupyter.widget-state+json"]');
  let widgets = null;
  if (state) { try { widgets = Object.keys(JSON.parse(state.textContent).state).length } catch (e) { widgets = -1 } }
  return {images: imgs.length, tables: document.querySelectorAll('table').length,
          broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src.slice(0, 80)),
          escapes: Array.from(document.querySelectorAll('td, th')).map(c => c.textContent)
                        .filter(t => t.includes('\\|')).map(t => t.slice(0, 100)),
          runon: Array.from(document.querySelectorAll('p, li')).map(p => p.textContent)
                      .filter(t => /\|\s*:?-{3,}/.test(t)).map(t => t.slice(0, 100)),
          widgets: widgets, widgets_shown: document.querySelectorAll('.widget-slider, .widget-hslider, .widget-box').length,
          height: document.documentElement.scrollHeight}
})()"""

def find_chromium():
    exe = next((shutil.which(n) for n in ('chromium', 'chromium-browser', 'google-chrome') if shutil.which(n)), None)
    if not exe: sys.exit('Chromium not found: apt-get install -y chromium')
    return exe

class Browser:
    "One headless Chromium and its first tab, driven through the DevTools protocol."
    def __init__(self, exe):
        self.profile = tempfile.mkdtemp(prefix='pcdiff-chromium-')
        self.proc = subprocess.Popen([exe, *FLAGS, f'--user-data-dir={self.profile}', 'about:blank'],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file, t = Path(self.profile)/'DevToolsActivePort', time.time()
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.time() - t > 60 or self.proc.poll() is not None: self.close(); sys.exit('Chromium did not start')
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        tabs = json.load(urllib.request.urlopen(f'http://127.0.0.1:{port}/json/list'))
        url = next(t['webSocketDebuggerUrl'] for t in tabs if t['type'] == 'page')
        self.ws = websocket.create_connection(url, timeout=60, suppress_origin=True)
        self.n, self.events = 0, []
        for domain in ('Page', 'Runtime', 'Log', 'Network'): self.call(f'{domain}.enable')

    def call(self, method, **params):
        "Send a command and return its result; events that arrive meanwhile are kept in `events`."
        self.n += 1
        self.ws.send(json.dumps(dict(id=self.n, method=method, params=params)))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get('id') == self.n:
                if 'error' in msg: raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get('result', {})
            if 'method' in msg: self.events.append(msg)

    def settle(self, until='Page.loadEventFired', quiet=1.0, limit=60):
        "Collect events until `until` arrived and then none for `quiet` seconds (at most `limit` seconds)."
        start, seen = time.time(), any(e['method'] == until for e in self.events)
        while time.time() - start < limit:
            self.ws.settimeout(quiet if seen else limit)
            try: msg = json.loads(self.ws.recv())
            except websocket.WebSocketTimeoutException:
                if seen: break
                continue
            if 'method' in msg:
                self.events.append(msg); seen = seen or msg['method'] == until
        self.ws.settimeout(60)

    def evaluate(self, js):
        r = self.call('Runtime.evaluate', expression=js, returnByValue=True)
        if 'exceptionDetails' in r: raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r['result']['value']

    def screenshot(self, path:Path, height:int) -> list:
        "Full-page screenshots: `path`, or for a long page `path` with -1, -2, ... (each at most `TILE` pixels high)."
        self.call('Emulation.setDeviceMetricsOverride', width=WIDTH, height=1000, deviceScaleFactor=1, mobile=False)
        tops = range(0, max(height, 1), TILE)
        paths = [path] if len(tops) == 1 else [path.with_name(f'{path.stem}-{i + 1}{path.suffix}') for i in range(len(tops))]
        for top, p in zip(tops, paths):
            clip = dict(x=0, y=top, width=WIDTH, height=min(TILE, height - top), scale=1)
            p.write_bytes(base64.b64decode(self.call('Page.captureScreenshot', format='png', clip=clip,
                                                     captureBeyondViewport=True)['data']))
        return paths

    def close(self):
        if getattr(self, 'ws', None): self.ws.close()
        self.proc.terminate()
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: self.proc.kill(); self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)

def is_remote(url): return urlparse(url).scheme in ('http', 'https') and urlparse(url).hostname not in ('localhost', '127.0.0.1')

def console_problems(events):
    "`(errors, offline)`: script errors and error messages on the console; resources from other hosts that did not load."
    urls = {e['params']['requestId']: e['params']['request']['url'] for e in events if e['method'] == 'Network.requestWillBeSent'}
    failed = {urls.get(e['params']['requestId'], '?'): e['params']['errorText'] for e in events if e['method'] == 'Network.loadingFailed'}
    offline = sorted(u for u in failed if is_remote(u))
    errors = [f"{u}: {why}" for u, why in failed.items() if not is_remote(u)]
    for e in events:
        m, p = e['method'], e['params']
        if m == 'Runtime.exceptionThrown':
            d = p['exceptionDetails']
            errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')} ({d.get('url', '')}:{d.get('lineNumber')})")
        elif m == 'Runtime.consoleAPICalled' and p['type'] in ('error', 'assert'):
            errors.append('console.error: ' + ' '.join(str(a.get('value', a.get('description', ''))) for a in p['args']))
        elif m == 'Log.entryAdded' and p['entry']['level'] == 'error':
            entry = p['entry']
            if entry.get('source') == 'network' and entry.get('url') in failed: continue   # listed above
            errors.append(f"log: {entry['text']} ({entry.get('url', '')})")
    return errors, offline

def notebook_of(page:Path):
    "The processed notebook (`_proc/`) a page was rendered from: same name (nbconvert) or its `output-file` (quarto)."
    for nb in (page.parent.parent/f'{page.stem}.ipynb', ROOT/'_proc'/f'{page.stem}.ipynb'):
        if nb.exists(): return nb
    front = lambda nb: ''.join(json.loads(nb.read_text())['cells'][0]['source']).splitlines()
    return next((nb for nb in sorted((ROOT/'_proc').glob('*.ipynb')) if f'output-file: {page.name}' in front(nb)), None)

def expected(page:Path):
    "`(pictures, tables, widgets)` the page's notebook stores, or None when no processed notebook is found."
    nb = notebook_of(page)
    if nb is None: return None
    nb = json.loads(nb.read_text())
    outs = [o for c in nb['cells'] for o in c.get('outputs', [])]
    pictures = sum(any(k in o.get('data', {}) for k in PICTURES) for o in outs)
    md = [''.join(c['source']) for c in nb['cells'] if c['cell_type'] == 'markdown']
    md += [''.join(o['data']['text/markdown']) for o in outs if 'text/markdown' in o.get('data', {})]
    tables = sum(len(_table_rule.findall(t)) for t in md)
    tables += sum(''.join(o['data']['text/html']).count('<table') for o in outs if 'text/html' in o.get('data', {}))
    return pictures, tables, bool(nb.get('metadata', {}).get('widgets', {}).get(WIDGET_STATE, {}).get('state'))

def check_page(b:Browser, page:Path, shots:Path) -> dict:
    b.events.clear()
    b.call('Page.navigate', url=page.resolve().as_uri())
    b.settle()
    info = b.evaluate(PAGE_JS)
    for old in shots.glob(f'{page.stem}*.png'): old.unlink()
    b.screenshot(shots/f'{page.stem}.png', info['height'])
    errors, offline = console_problems(b.events)
    problems = list(errors)
    if info['broken']: problems.append(f"{len(info['broken'])} pictures do not decode: {info['broken'][:3]}")
    if info['runon']: problems.append(f"markdown tables not rendered as tables: {info['runon'][:3]}")
    if info['escapes']: problems.append(f"table cells show the backslash of \\| (write <code>a &#124; b</code>): {info['escapes'][:3]}")
    exp = expected(page)
    if exp:
        pictures, tables, widgets = exp
        if info['images'] < pictures: problems.append(f"{info['images']} pictures on the page, the notebook stores {pictures}")
        if info['tables'] < tables: problems.append(f"{info['tables']} tables on the page, the notebook has {tables}")
        if widgets and not info['widgets']: problems.append("the notebook's widget state is not on the page")
        manager_missing = any('html-manager' in u for u in offline)
        if widgets and info['widgets'] and not info['widgets_shown'] and not manager_missing:
            problems.append('the widget state is on the page but no widget is drawn')
    return dict(page=page.name, problems=problems, offline=offline, **{k: info[k] for k in ('images', 'tables', 'widgets', 'widgets_shown')})

def pages_in(paths):
    out = []
    for p in map(Path, paths):
        out += sorted(p.rglob('*.html')) if p.is_dir() else [p]
    return out

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('pages', nargs='*', help='HTML pages or folders of them (default: render every notebook)')
    ap.add_argument('--shots', type=Path, default=ROOT/'_browser', help='folder for the screenshots')
    a = ap.parse_args(argv)
    if a.pages: pages = pages_in(a.pages)
    else:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from check_docs import render
        os.chdir(ROOT); pages = render()
    if not pages: sys.exit('no pages to check')
    a.shots.mkdir(parents=True, exist_ok=True)
    b, results = Browser(find_chromium()), []
    try:
        for page in pages:
            r = check_page(b, page, a.shots); results.append(r)
            widgets = f", widget state of {r['widgets']} models ({r['widgets_shown']} widgets drawn)" if r['widgets'] else ''
            print(f"{'FAIL' if r['problems'] else 'ok  '} {r['page']}: {r['images']} pictures, {r['tables']} tables{widgets}"
                  + (f"; {len(r['offline'])} resources from other hosts not loaded" if r['offline'] else ''), flush=True)
            for p in r['problems']: print(f'       {p}')
    finally: b.close()
    offline = sorted({u for r in results for u in r['offline']})
    if offline: print('not loaded (other hosts, offline?):\n  ' + '\n  '.join(offline))
    bad = [r['page'] for r in results if r['problems']]
    print(f"{len(results) - len(bad)} of {len(results)} pages ok; screenshots in {a.shots}")
    if bad: sys.exit(f"pages with problems: {', '.join(bad)}")

if __name__ == '__main__': main()
