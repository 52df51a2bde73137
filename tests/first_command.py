"""The README's first command as a newcomer runs it: exactly as written, by bash, in a copy of this checkout (its
tracked and unignored files) in a temporary folder, with no virtual environment active, so the `.venv` it makes holds
only what `pip install -e .` installs. Fails when the command fails, when the run folder lacks its results (best.pt,
metrics.json with a finite test_bpd, a samples.png a person can see), or when some module of the package does not
import there. `python tests/first_command.py` (about ten minutes on two cores, most of it the install)."""
import json, math, os, re, shutil, struct, subprocess, sys, tempfile, time
from pathlib import Path

from readme import ROOT, first_command

def copy_checkout(dest:Path):
    "Copy the files git tracks or would track (working-tree versions) from ROOT to `dest`."
    out = subprocess.run(['git', 'ls-files', '-z', '--cached', '--others', '--exclude-standard'], cwd=ROOT,
                         capture_output=True, check=True).stdout
    for name in filter(None, out.split(b'\0')):
        src = ROOT / os.fsdecode(name)
        if src.is_file():
            (dest / os.fsdecode(name)).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / os.fsdecode(name))

def clean_env() -> dict:
    "This environment without an active virtual environment or a PYTHONPATH."
    env = {k: v for k, v in os.environ.items() if k not in ('VIRTUAL_ENV', 'PYTHONPATH', 'PYTHONHOME')}
    venvs = {os.environ.get('VIRTUAL_ENV'), sys.prefix if sys.prefix != sys.base_prefix else None} - {None}
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep)
                                  if not any(Path(p).resolve().is_relative_to(Path(v).resolve()) for v in venvs))
    return env

def png_size(path:Path) -> tuple:
    "`(width, height)` of a PNG file."
    head = path.read_bytes()[:24]
    if head[:8] != b'\x89PNG\r\n\x1a\n': raise ValueError(f"{path} is not a PNG file")
    return struct.unpack('>II', head[16:24])

def check_run(run:Path) -> list:
    "What is missing or wrong in the run folder `run`, written by the README's command."
    problems = [f"no {f}" for f in ('best.pt', 'metrics.json', 'samples.png') if not (run / f).is_file()]
    if (run / 'metrics.json').is_file():
        bpd = json.loads((run / 'metrics.json').read_text()).get('test_bpd')
        if not (isinstance(bpd, (int, float)) and math.isfinite(bpd)): problems.append(f"test_bpd is {bpd!r}")
    if (run / 'samples.png').is_file() and min(png_size(run / 'samples.png')) < 256:
        problems.append(f"samples.png is only {png_size(run / 'samples.png')} pixels")
    return problems

IMPORT_ALL = ("import importlib, pkgutil, pcdiff\n"
              "for m in pkgutil.iter_modules(pcdiff.__path__): importlib.import_module('pcdiff.' + m.name)")

def main() -> int:
    cmd = first_command()
    out = re.search(r'--out (\S+)', cmd)
    if 'pip install -e .' not in cmd or out is None:
        print(f"the README's first command does not install the package and name its run folder: {cmd}"); return 1
    with tempfile.TemporaryDirectory(prefix='pcdiff-first-command-') as d:
        d = Path(d); copy_checkout(d)
        print(f"$ {cmd}\n(in a copy of the checkout, {d})", flush=True)
        t0, log = time.time(), d / 'first-command.log'
        with open(log, 'w') as f:
            r = subprocess.run(['bash', '-c', cmd], cwd=d, env=clean_env(), stdout=f, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=3600)
            if r.returncode == 0:
                f.write(f"$ .venv/bin/python -c <import every module of pcdiff>\n"); f.flush()
                imp = subprocess.run([str(d / '.venv/bin/python'), '-c', IMPORT_ALL], cwd=d, env=clean_env(),
                                     stdout=f, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=600)
        lines = log.read_text().splitlines()
        if r.returncode != 0:
            print('\n'.join(lines[-60:])); print(f"FAILED: the README's first command exited with {r.returncode}"); return 1
        done = max((i for i, l in enumerate(lines) if l.startswith('Successfully installed')), default=-1)
        shown = [l.split('\r')[-1] for l in lines[done:]]
        print('\n'.join(l for l in shown if l.strip() and not re.match(r'epoch \d+/\d+:', l)))   # no progress bars
        if imp.returncode != 0: print("FAILED: a module of pcdiff does not import in the fresh environment"); return 1
        problems = check_run(d / out.group(1))
        if problems: print(f"FAILED: the run folder {out.group(1)}: " + '; '.join(problems)); return 1
        print(f"the README's first command ran in {time.time() - t0:.0f} s; {out.group(1)} holds best.pt, "
              "metrics.json (finite test_bpd) and samples.png")
    return 0

if __name__ == '__main__': sys.exit(main())
