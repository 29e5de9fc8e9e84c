"""The packages install as the quickstart says, with plain pip, in clean virtual environments.

Wheels come from `just build`, then `pip install --find-links <dist> ...`; or pip builds them
from the clone's folders. Each environment is made by `python -m venv` in a temporary folder and
takes every other dependency from the package index: nothing of the workspace's environment, or
of the user's, is used or changed. Whatever `packages/` holds is built, installed and imported.
"""

import json
import os
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What the memory extra brings, which a client-only install must not carry.
EMBEDDED_BROKER = ("fakeredis", "lupa", "sortedcontainers")
#: Creating a venv and installing from the index take seconds each, more on a busy machine.
pytestmark = pytest.mark.timeout(600)


@dataclass(frozen=True)
class Package:
    """A distribution of the workspace, as its pyproject.toml declares it."""

    name: str
    version: str
    module: str


def workspace_packages() -> list[Package]:
    found = []
    for pyproject in sorted(ROOT.glob("packages/*/pyproject.toml")):
        data = tomllib.loads(pyproject.read_text())
        name, version = data["project"]["name"], data["project"]["version"]
        backend = data.get("tool", {}).get("uv", {}).get("build-backend", {})
        found.append(Package(name, version, backend.get("module-name", name.replace("-", "_"))))
    return found


PACKAGES = workspace_packages()


class Venv:
    """A virtual environment made with `python -m venv`, and pip run in it."""

    def __init__(self, path: Path, find_links: Path) -> None:
        self.path = path
        # The machine's pip settings stay (index, certificates), except its find-links: the
        # only local wheels are the ones under test.
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")
        }
        self.env.update(
            PIP_FIND_LINKS=str(find_links),
            PIP_USER="0",
            PIP_NO_INPUT="1",
            PIP_DISABLE_PIP_VERSION_CHECK="1",
        )
        base_python = getattr(sys, "_base_executable", sys.executable)
        self.check([base_python, "-m", "venv", str(path)])

    def bin(self, name: str) -> str:
        return str(self.path / "bin" / name)

    def run(self, args: Sequence[str], cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            args,
            capture_output=True,
            text=True,
            env=self.env,
            cwd=cwd or self.path.parent,
            timeout=300,
        )

    def check(self, args: Sequence[str], cwd: Path | None = None) -> str:
        done = self.run(args, cwd)
        assert done.returncode == 0, f"{' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def pip(self, *args: str, cwd: Path | None = None) -> str:
        return self.check([self.bin("python"), "-m", "pip", *args], cwd)

    def python(self, code: str) -> subprocess.CompletedProcess[str]:
        return self.run([self.bin("python"), "-W", "error", "-c", code])

    def installed(self) -> set[str]:
        listed = json.loads(self.pip("list", "--format", "json"))
        return {entry["name"].lower().replace("_", "-") for entry in listed}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheels, built by `just build` as a user would, into a folder of the test's own."""
    just = shutil.which("just")
    if just is None:
        hint = "just is not on PATH: run the tests with `just test` (or `bash tools/dev.sh test`)"
        if os.environ.get("CI"):
            pytest.fail(hint)
        pytest.skip(hint)
    out = tmp_path_factory.mktemp("build") / "dist"
    built = subprocess.run(
        [just, "--justfile", str(ROOT / "justfile"), "build", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, f"just build failed:\n{built.stdout}\n{built.stderr}"
    return out


@dataclass(frozen=True)
class ClientOnly:
    """What a client-only install showed, before the rest was added to the same environment."""

    installed: set[str]
    version: subprocess.CompletedProcess[str]
    admin_help: subprocess.CompletedProcess[str]
    memory_broker: subprocess.CompletedProcess[str]


@dataclass(frozen=True)
class WheelInstall:
    client_only: ClientOnly
    #: The same environment, with the memory extra and every other package of the workspace.
    everything: Venv


@pytest.fixture(scope="module")
def wheels(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> WheelInstall:
    """A web app's install (the client alone), then a worker host's, one after the other."""
    venv = Venv(tmp_path_factory.mktemp("wheels") / "venv", find_links=dist)
    venv.pip("install", "--find-links", str(dist), "spinach-client")
    client_only = ClientOnly(
        installed=venv.installed(),
        version=venv.python("import spinach; print(spinach.__version__)"),
        admin_help=venv.run([venv.bin("spinach"), "--help"]),
        memory_broker=venv.python("from spinach import MemoryBroker; MemoryBroker()"),
    )
    venv.pip("check")
    others = [p.name for p in PACKAGES if p.name != "spinach-client"]
    venv.pip("install", "--find-links", str(dist), "spinach-client[memory]", *others)
    return WheelInstall(client_only, venv)


def test_just_build_makes_a_wheel_and_an_sdist_of_every_package(dist: Path) -> None:
    for package in PACKAGES:
        stem = package.name.replace("-", "_")
        assert list(dist.glob(f"{stem}-*-py3-none-any.whl")), f"no wheel of {package.name}"
        assert list(dist.glob(f"{stem}-*.tar.gz")), f"no sdist of {package.name}"


def test_the_client_alone_installs_from_the_wheels_and_imports(wheels: WheelInstall) -> None:
    done = wheels.client_only.version
    assert done.returncode == 0, done.stderr
    (client,) = (p for p in PACKAGES if p.name == "spinach-client")
    assert done.stdout.strip() == client.version


def test_the_admin_command_runs_in_a_client_only_install(wheels: WheelInstall) -> None:
    done = wheels.client_only.admin_help
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: spinach")


def test_a_client_only_install_carries_no_embedded_broker_worker_or_framework(
    wheels: WheelInstall,
) -> None:
    assert "spinach-client" in wheels.client_only.installed
    unwanted = {*EMBEDDED_BROKER, "spinach-worker", "sentry-sdk", "flask", "django"}
    assert wheels.client_only.installed & unwanted == set()


def test_memory_broker_in_a_client_only_install_says_which_extra_to_install(
    wheels: WheelInstall,
) -> None:
    done = wheels.client_only.memory_broker
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "spinach.exc.MemoryBrokerNotInstalledError: MemoryBroker needs the memory extra "
        "(fakeredis is not installed): pip install 'spinach-client[memory]'"
    )


def test_every_package_installs_from_the_wheels_and_ships_its_type_hints(
    wheels: WheelInstall,
) -> None:
    everything = wheels.everything
    everything.pip("check")
    assert {p.name for p in PACKAGES} | set(EMBEDDED_BROKER) <= everything.installed()
    modules = [p.module for p in PACKAGES]
    done = everything.python(
        "import importlib, importlib.resources\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "    print(name, importlib.resources.files(name).joinpath('py.typed').is_file())\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [word for name in modules for word in (name, "True")]


def test_with_the_memory_extra_and_the_worker_a_job_runs_on_the_embedded_broker(
    wheels: WheelInstall,
) -> None:
    done = wheels.everything.python(
        "from spinach import Engine, MemoryBroker, Tasks\n"
        "tasks = Tasks()\n"
        "totals = []\n"
        "@tasks.task(name='add')\n"
        "def add(a, b):\n"
        "    totals.append(a + b)\n"
        "spin = Engine(MemoryBroker(), namespace='install')\n"
        "spin.attach_tasks(tasks)\n"
        "spin.schedule(add, 2, 3)\n"
        "spin.start_workers(number=1, stop_when_queue_empty=True)\n"
        "print(totals)\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[5]"


def test_the_worker_command_runs_from_the_wheels(wheels: WheelInstall) -> None:
    help_text = wheels.everything.check([wheels.everything.bin("spinach-worker"), "--help"])
    assert help_text.startswith("usage: spinach-worker")


def test_the_client_and_worker_install_from_the_clones_folders_in_one_pip_command(
    tmp_path: Path,
) -> None:
    # The quickstart's command: one pip call, so that spinach-lua==0.1.0 is found in its folder.
    (tmp_path / "no-wheels").mkdir()
    venv = Venv(tmp_path / "venv", find_links=tmp_path / "no-wheels")
    venv.pip(
        "install",
        "./packages/spinach-lua",
        "./packages/spinach-client",
        "./packages/spinach-worker",
        cwd=ROOT,
    )
    assert {"spinach-lua", "spinach-client", "spinach-worker"} <= venv.installed()
    help_text = venv.check([venv.bin("spinach-worker"), "--help"])
    assert help_text.startswith("usage: spinach-worker")
