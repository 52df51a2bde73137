#!/usr/bin/env bash
# Install pcdiff with its development tools into the active environment and run every check:
# the generated package and the notebooks are in sync, every notebook runs (nbdev_test),
# the docs processing and an HTML render of every notebook succeed, every page opens cleanly in a browser (where
# Chromium is installed: .ci/run installs it), and the pytest suite passes.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q --upgrade pip
python -m pip install -q -e ".[dev]"

echo "== generated code and cleaned notebooks are in sync"
nbdev_export
nbdev_clean
if [ -n "$(git status --porcelain -- pcdiff nbs)" ]; then
  git status --porcelain -- pcdiff nbs
  echo "nbdev_export/nbdev_clean changed the tree: export and clean the notebooks, then commit" >&2
  exit 1
fi

# Two notebooks run at once on two cores: one thread each avoids oversubscription.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}

echo "== notebooks (nbdev_test)"
nbdev_test --n_workers 2 --timing

echo "== documentation processing and HTML render"
python tests/check_docs.py

echo "== the rendered pages in headless Chromium (screenshots in _browser/)"
if command -v chromium >/dev/null || command -v chromium-browser >/dev/null; then
  python tests/check_browser.py _proc/_html
else
  echo "Chromium is not installed: skipped (apt-get install -y chromium)"
fi

echo "== pytest"
python -m pytest -q tests
