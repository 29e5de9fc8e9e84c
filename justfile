# Spinach developer recipes. `just --list` shows them; `bash tools/dev.sh RECIPE` installs uv and
# just first when a machine lacks them.

set shell := ["bash", "-euo", "pipefail", "-c"]

# uv must use the machine's Python, never download one.
export UV_PYTHON_DOWNLOADS := "never"

# uv writes no bytecode by default, so every process would recompile its imports (on each start
# where PYTHONDONTWRITEBYTECODE is set): uv compiles what it installs instead.
export UV_COMPILE_BYTECODE := "1"

[private]
default:
    @just --list

# Install every package of the workspace and the dev tools into .venv.
sync:
    uv sync --locked --all-packages

# Schedule and run a few jobs on the embedded broker (no Redis needed, no dev tools or frameworks).
demo:
    uv run --locked --all-packages --no-default-groups --group memory python tools/demo.py

# Everything CI runs: lint, unit tests, the docs site, the conformance and integration suites.
test: lint unit docs (_integration "")

# Unit tests of each package, each in an environment holding only that package and its deps
# (the client's with its memory extra, which its tests use).
unit:
    UV_PROJECT_ENVIRONMENT=.venv-lua uv run --locked --package spinach-lua --no-default-groups --group dev --exact pytest packages/spinach-lua/tests
    SPINACH_CLIENT_ONLY=1 UV_PROJECT_ENVIRONMENT=.venv-client uv run --locked --package spinach-client --extra memory --no-default-groups --group dev --exact pytest packages/spinach-client/tests
    uv run --locked --all-packages pytest packages/spinach-worker/tests
    uv run --locked --all-packages pytest packages/spinach-dashboard/tests

# The real-Redis suite: tests start their own redis-server processes on free loopback ports.
integration *args: (_integration "-m redis " + args)

# The topologies: the conformance suite on a 3-primary Redis Cluster, slot migration, Sentinel
# failover, ACL users, TLS (all started by the fixtures on free loopback ports).
integration-cluster *args: (_integration "-m 'cluster or topology' " + args)

_integration args: _require-redis bytecode
    uv run --locked --all-packages pytest integration-tests {{args}}

# uv compiles what it installs, but the workspace's own packages are installed editable, from
# their sources: compiled here, so that the many processes the tests start do not each compile
# them again (where PYTHONDONTWRITEBYTECODE is set, Python never writes what it compiled).
[private]
bytecode:
    uv run --locked --all-packages python -m compileall -q packages/spinach-lua/src packages/spinach-client/src packages/spinach-worker/src packages/spinach-dashboard/src

# ruff and mypy --strict over every package and the tools.
lint:
    uv run --locked --all-packages ruff check .
    uv run --locked --all-packages ruff format --check .
    uv run --locked --all-packages mypy packages tools

# MkDocs builds the docs into site/ in an environment of its own; --strict fails on a broken link.
docs:
    UV_PROJECT_ENVIRONMENT=.venv-docs uv run --locked --only-group docs --exact mkdocs build --strict

# Side-by-side benchmark against Spinach 0.0.25 from PyPI, on a throwaway redis-server.
bench *args: _require-redis
    uv run --locked --all-packages python tools/bench/run.py {{args}}

# Redis memory after 200,000 processed and 200,000 failed jobs, and that Retention bounds it.
memory *args: _require-redis
    uv run --locked --all-packages python tools/bench/memory.py {{args}}

# Each dashboard page's response time and Redis cost over 100,000 ready and 10,000 failed jobs.
bench-dashboard *args: _require-redis
    uv run --locked --all-packages python tools/bench/dashboard.py {{args}}

# The dashboard's screenshots in docs/images/, taken by headless Debian chromium.
dashboard-screenshots: _require-redis
    uv run --locked --all-packages python tools/dashboard_screenshots.py

# Build a wheel and an sdist of every package in packages/ into dist/ (or the folder given).
build out="dist":
    rm -rf "{{out}}" && uv build --all-packages --no-sources -o "{{out}}"

_require-redis:
    @command -v redis-server >/dev/null || { echo "redis-server is missing: install it with 'sudo apt-get install redis-server' (or run 'bash tools/dev.sh test', which does)"; exit 1; }

# Process workers on CPU-bound jobs (1 process against one per core) and the cost of --metrics.
bench-processes *args: _require-redis
    uv run --locked --all-packages python tools/bench/processes.py {{args}}
