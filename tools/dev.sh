#!/usr/bin/env bash
# Set up what a fresh machine lacks, then run a just recipe:  bash tools/dev.sh demo|test|...
#
# Installs uv and just (PyPI package rust-just) with pip when they are missing, and redis-server
# with apt-get when the recipe needs it. Python 3.11+ must already be there; uv never downloads one.
set -euo pipefail
cd "$(dirname "$0")/.."

recipe="${1:-test}"
export UV_PYTHON_DOWNLOADS=never
export PATH="$HOME/.local/bin:$PATH"

python=$(command -v python3 || true)
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Spinach needs Python 3.11 or newer as python3" >&2
    exit 1
fi

pip_install() {
    # Debian's own Python refuses global installs (PEP 668); a user install is what we want there.
    "$python" -m pip install --quiet --user "$@" 2>/dev/null \
        || "$python" -m pip install --quiet --user --break-system-packages "$@" 2>/dev/null \
        || "$python" -m pip install --quiet "$@"
}

if ! command -v uv >/dev/null || ! command -v just >/dev/null; then
    echo "Installing uv and just from PyPI..."
    pip_install uv rust-just
fi

case "$recipe" in
    test|integration|bench)
        if ! command -v redis-server >/dev/null; then
            echo "Installing redis-server with apt-get..."
            sudo_cmd=""
            [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
            $sudo_cmd apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
        fi
        ;;
esac

case "$recipe" in
    test|integration)
        # The dashboard's browser tests drive Debian's chromium (never a downloaded browser).
        if ! command -v chromium >/dev/null; then
            echo "Installing chromium with apt-get..."
            sudo_cmd=""
            [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
            $sudo_cmd apt-get update -qq
            DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
                chromium fonts-liberation >/dev/null
        fi
        ;;
esac

shift || true
exec just "$recipe" "$@"
