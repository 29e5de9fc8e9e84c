#!/usr/bin/env bash
# Set up what a fresh machine lacks, then run a just recipe:  bash tools/dev.sh demo|test|...
#
# Installs uv and just (PyPI package rust-just) with pip when they are missing, and with apt-get
# what the recipe needs (pip itself, redis-server, venv for the install tests). Python 3.11+ must
# already be there; uv never downloads one.
set -euo pipefail
cd "$(dirname "$0")/.."

recipe="${1:-test}"
export UV_PYTHON_DOWNLOADS=never

python=$(command -v python3 || true)
if [ -z "$python" ] || ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "Spinach needs Python 3.11 or newer as python3" >&2
    exit 1
fi

apt_install() {
    echo "Installing $* with apt-get..."
    local sudo_cmd=""
    [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "$@" >/dev/null
}

pip_install() {
    # Debian's own Python refuses global installs (PEP 668); a user install is what we want there.
    "$python" -m pip install --quiet --user "$@" 2>/dev/null \
        || "$python" -m pip install --quiet --user --break-system-packages "$@" 2>/dev/null \
        || "$python" -m pip install --quiet "$@"
}

# pip --user puts commands in the user base's bin (~/.local/bin on Linux), which a fresh
# account's shell may not have on its PATH: this script adds it, and says so when it must.
user_bin="$("$python" -m site --user-base)/bin"
case ":$PATH:" in
    *":$user_bin:"*) user_bin_on_path=1 ;;
    *) user_bin_on_path=0; export PATH="$user_bin:$PATH" ;;
esac

if ! command -v uv >/dev/null || ! command -v just >/dev/null; then
    "$python" -m pip --version >/dev/null 2>&1 || apt_install python3-pip
    echo "Installing uv and just from PyPI..."
    pip_install uv rust-just
fi
if [ "$user_bin_on_path" = 0 ] && [ "$(dirname "$(command -v just)")" = "$user_bin" ]; then
    cat >&2 <<HINT
Note: pip put uv and just in
    $user_bin
which is not on your shell's PATH. This script finds them; to run 'just' yourself, add
    export PATH="$user_bin:\$PATH"
to ~/.bashrc (or ~/.profile) and open a new shell.
HINT
fi

# uv trusts the root certificates it bundles, not the system's store, where the certificate of a
# TLS-intercepting proxy is installed (and that pip trusts): on such networks uv fails with
# "invalid peer certificate: UnknownIssuer". Use the system's store unless told otherwise.
if [ -z "${UV_SYSTEM_CERTS-}${UV_NATIVE_TLS-}${SSL_CERT_FILE-}${SSL_CERT_DIR-}" ] \
    && { [ "$(uname)" = Darwin ] || [ -s /etc/ssl/certs/ca-certificates.crt ] \
        || [ -s /etc/pki/tls/certs/ca-bundle.crt ]; }; then
    export UV_SYSTEM_CERTS=true
fi

case "$recipe" in
    test|integration|bench|memory)
        command -v redis-server >/dev/null || apt_install redis-server
        ;;
esac
# The install tests make virtual environments with `python3 -m venv`, which Debian ships apart.
if [ "$recipe" = test ] && ! "$python" -c 'import ensurepip' 2>/dev/null; then
    apt_install python3-venv
fi

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
