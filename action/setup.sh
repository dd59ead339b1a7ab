#!/usr/bin/env bash
# The Action's install step: a virtual environment under $RUNNER_TEMP with the hashed, pinned requirements
# (pip --require-hashes: every file pip downloads must match a recorded sha256) and hfdiag from the action's
# own checkout (a .pth file: nothing is built, so nothing unhashed is fetched). A venv that was already set up
# from the same requirements in this job is reused. Prints `python=...` to $GITHUB_OUTPUT.
set -euo pipefail
action_path="${HFDIAG_ACTION_PATH:?}"
python="${HFDIAG_PYTHON:-python3}"
venv="${RUNNER_TEMP:?}/hfdiag-venv"
requirements="$action_path/action/requirements.txt"
stamp="$(sha256sum "$requirements" | cut -c1-64)"

if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.hfdiag-requirements" 2>/dev/null)" = "$stamp" ]; then
  echo "hfdiag: reusing $venv (same requirements)"
else
  if ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "::error title=hfdiag action::python input '$python' is not Python 3.11 or newer (action/requirements.txt is resolved for it)"
    exit 2
  fi
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --disable-pip-version-check --no-input -q \
    --require-hashes --only-binary :all: -r "$requirements"
  site="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')"
  printf '%s\n' "$action_path" > "$site/hfdiag-action.pth"
  printf '%s\n' "$stamp" > "$venv/.hfdiag-requirements"
fi
echo "python=$venv/bin/python" >> "${GITHUB_OUTPUT:-/dev/null}"
