"""Every Python code sample of the docs runs: each ```python block of docs/*.md and README.md.

The rules, written down for authors in docs/development.md ("Code samples"):

- The blocks of a page run in order, in one fresh Python process and one namespace: a block may
  use what the blocks before it on its page defined. The process starts in an empty working
  directory, which is on sys.path.
- A block whose first line is ``# path/to/module.py`` (optionally followed by ``: comment``) is
  a file: it is written to that path, with an ``__init__.py`` in each new folder, and imported
  at once, so it runs too; later blocks import it as a user would.
- ``<!-- sample: setup=NAME -->`` on the line right before a block runs the setup NAME first
  (SETUPS below). Anything else in such a comment, or a comment that does not come right before
  a python block, fails the test.
- Redis URLs are rewritten to servers started here: ``redis://127.0.0.1:6379/0`` to a
  throwaway redis-server (emptied before each page), ``redis+cluster://10.0.0.5:6379`` to a
  throwaway 3-primary Redis Cluster. A sample that would reach any other Redis on this machine
  fails the test instead.
- Every fenced block names its language, and Python ones say ``python``, so none escapes.

A page passes when its process ran every one of its blocks and exited 0 before its deadline;
warnings are errors there, as in the rest of the suite. Run as a script, this module is the
runner of one page inside that process.
"""

import importlib
import json
import os
import re
import subprocess
import sys
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

LOCAL_REDIS_URL = "redis://127.0.0.1:6379/0"
EXAMPLE_CLUSTER_URL = "redis+cluster://10.0.0.5:6379"

#: Languages the docs' fenced blocks may name; only python blocks run.
LANGUAGES = {"python", "bash", "text", "ini", "yaml"}

#: How long one page may run, all its blocks together (workers included).
PAGE_DEADLINE = 45.0

FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^`]*)$")
DIRECTIVE = re.compile(r"^<!--\s*sample:(?P<body>.*?)-->$")
FILE_HEADER = re.compile(r"^# (?P<path>[\w/-]+\.py)(?::.*)?$")
REDIS_URL = re.compile(r"rediss?(?:\+\w+)?://[^\s\"']*")


class SampleError(ValueError):
    """A page breaks the sample conventions."""


@dataclass(frozen=True)
class Block:
    """One fenced block: its language, its code and where it starts in its page."""

    language: str
    code: str
    #: Line of the page (from 1) where the code starts, just below the opening fence.
    line: int
    setups: tuple[str, ...] = ()

    @property
    def file(self) -> str | None:
        """The path the block is written to, if it is a file (``# shop/tasks.py``)."""
        match = FILE_HEADER.match(self.code.split("\n", 1)[0])
        return match["path"] if match else None


def parse_blocks(text: str, page: str) -> list[Block]:
    """Every fenced block of a Markdown page, with the setups its directive names."""
    lines = text.splitlines()
    blocks: list[Block] = []
    setups: tuple[str, ...] | None = None
    directive_line = 0
    number = 0
    while number < len(lines):
        line = lines[number]
        number += 1
        directive = DIRECTIVE.match(line.strip())
        if directive:
            setups = _parse_directive(directive["body"], f"{page}:{number}")
            directive_line = number
            continue
        opening = FENCE.match(line)
        if setups is not None and (opening is None or number != directive_line + 1):
            raise SampleError(f"{page}:{directive_line}: a sample directive must come right "
                              "before the opening fence of a python block")  # fmt: skip
        if opening is None:
            continue
        indent, fence = len(opening["indent"]), opening["fence"]
        info = opening["info"].split()
        start, body = number, []
        while True:
            if number >= len(lines):
                raise SampleError(f"{page}:{start}: the fenced block is never closed")
            closing = lines[number].strip()
            number += 1
            if len(closing) >= len(fence) and set(closing) == {fence[0]}:
                break
            body.append(_dedent(lines[number - 1], indent))
        block = Block(info[0] if info else "", "\n".join(body) + "\n", start + 1, setups or ())
        if setups is not None and block.language != "python":
            raise SampleError(f"{page}:{directive_line}: a sample directive must come right "
                              "before a python block")  # fmt: skip
        blocks.append(block)
        setups = None
    if setups is not None:
        raise SampleError(f"{page}:{directive_line}: a sample directive ends the page")
    return blocks


def _parse_directive(body: str, where: str) -> tuple[str, ...]:
    names: list[str] = []
    for item in body.split():
        key, _, value = item.partition("=")
        if key != "setup" or value not in SETUPS:
            raise SampleError(
                f"{where}: unknown sample directive {item!r} (known: "
                f"{', '.join(f'setup={name}' for name in sorted(SETUPS))})"
            )
        names.append(value)
    if not names:
        raise SampleError(f"{where}: an empty sample directive")
    return tuple(names)


def _dedent(line: str, indent: int) -> str:
    """Remove up to `indent` leading blanks: the indentation of a fence inside a list."""
    stripped = line[:indent].lstrip()
    return stripped + line[indent:] if stripped else line[indent:]


def python_blocks(page: Path) -> list[Block]:
    return [
        block for block in parse_blocks(page.read_text(), _name(page)) if block.language == "python"
    ]


def _name(page: Path) -> str:
    return str(page.relative_to(ROOT))


def _page_param(page: Path) -> Any:
    text = page.read_text()
    marks = []
    if LOCAL_REDIS_URL in text:
        marks.append(pytest.mark.redis)
    if EXAMPLE_CLUSTER_URL in text:
        marks.append(pytest.mark.cluster)
    return pytest.param(page, id=_name(page), marks=marks)


SAMPLE_PAGES = [
    page for page in PAGES if re.search(r"^\s*(`{3,}|~{3,})python", page.read_text(), re.M)
]


# -- the tests --------------------------------------------------------------------------------


def test_the_docs_have_code_samples() -> None:
    names = {_name(page) for page in SAMPLE_PAGES}
    assert {"README.md", "docs/quickstart.md", "docs/integrations.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=_name)
def test_every_fenced_block_names_its_language(page: Path) -> None:
    for block in parse_blocks(page.read_text(), _name(page)):
        assert block.language in LANGUAGES, (
            f"{_name(page)}:{block.line - 1}: fenced block in {block.language or 'no language'}; "
            f"name one of {sorted(LANGUAGES)} (Python samples must say python: they are run)"
        )


@pytest.mark.parametrize("page", [_page_param(page) for page in SAMPLE_PAGES])
def test_the_python_samples_of_the_page_run(
    page: Path, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    blocks = python_blocks(page)
    urls: dict[str, str] = {}
    text = page.read_text()
    if LOCAL_REDIS_URL in text:
        server = request.getfixturevalue("docs_redis")
        server.client().flushall()
        urls[LOCAL_REDIS_URL] = server.url
    if EXAMPLE_CLUSTER_URL in text:
        urls[EXAMPLE_CLUSTER_URL] = request.getfixturevalue("redis_cluster").url
    allowed_ports = {urlsplit(url).port for url in urls.values()}

    specs = []
    for block in blocks:
        code = block.code
        for example, real in urls.items():
            code = code.replace(example, real)
        _refuse_other_local_redis(code, allowed_ports, f"{_name(page)}:{block.line}")
        specs.append({"line": block.line, "file": block.file, "setups": block.setups, "code": code})
    spec_path = tmp_path / "samples.json"
    spec_path.write_text(json.dumps({"page": str(page), "blocks": specs}))
    workdir = tmp_path / "work"
    workdir.mkdir()

    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    command = [sys.executable, "-W", "error", __file__, str(spec_path)]
    try:
        done = subprocess.run(
            command, cwd=workdir, env=env, capture_output=True, text=True, timeout=PAGE_DEADLINE
        )
    except subprocess.TimeoutExpired as e:
        pytest.fail(
            f"The samples of {_name(page)} did not finish within {PAGE_DEADLINE:g}s; the last "
            f"one started is the last listed:\n{_text(e.stdout)}\n{_text(e.stderr)}"
        )
    report = f"stdout:\n{done.stdout}\nstderr:\n{done.stderr}"
    assert done.returncode == 0, f"A sample of {_name(page)} failed.\n{report}"
    assert f"ran {len(blocks)} samples" in done.stdout.splitlines(), (
        f"Not every sample of {_name(page)} ran (did one exit the process?).\n{report}"
    )


def _refuse_other_local_redis(code: str, allowed_ports: set[int | None], where: str) -> None:
    """Fail if a sample would reach a Redis of this machine other than the throwaway ones."""
    for url in REDIS_URL.findall(code):
        parts = urlsplit(url.replace("+cluster", "").replace("+sentinel", ""))
        local = parts.hostname in ("localhost", "127.0.0.1", "::1")
        if local and (parts.port or 6379) not in allowed_ports:
            pytest.fail(f"{where}: the sample names {url}; use {LOCAL_REDIS_URL}, which is "
                        "rewritten to a throwaway server")  # fmt: skip
    if "RedisBroker()" in re.sub(r"#.*", "", code):  # in code, not in a comment
        pytest.fail(f"{where}: RedisBroker() would connect to the Redis on localhost:6379; "
                    f"use RedisBroker.from_url({LOCAL_REDIS_URL!r})")  # fmt: skip


def _text(output: str | bytes | None) -> str:
    return output.decode(errors="replace") if isinstance(output, bytes) else output or ""


@pytest.fixture(scope="module")
def docs_redis() -> Iterator[Any]:
    """A redis-server of the samples' own, emptied before each page."""
    from helpers import throwaway_redis_server

    with throwaway_redis_server(attempts=3) as server:
        yield server


# -- the tests of the conventions themselves ----------------------------------------------------


def test_blocks_are_found_with_their_line_file_and_setup() -> None:
    page = (
        "# Title\n"
        "\n"
        "```python\n"
        "# shop/tasks.py: the tasks\n"
        "x = 1\n"
        "```\n"
        "\n"
        "- a list item:\n"
        "\n"
        "  ```bash\n"
        "  spinach-worker shop.tasks:spin\n"
        "  ```\n"
        "<!-- sample: setup=django -->\n"
        "````python\n"
        "print('```')\n"
        "````\n"
    )
    first, second, third = parse_blocks(page, "page.md")
    assert (first.language, first.line, first.file, first.setups) == (
        "python",
        4,
        "shop/tasks.py",
        (),
    )
    assert (second.language, second.code) == ("bash", "spinach-worker shop.tasks:spin\n")
    assert (third.line, third.file, third.setups, third.code) == (
        15,
        None,
        ("django",),
        "print('```')\n",
    )


@pytest.mark.parametrize(
    ("page", "message"),
    [
        ("<!-- sample: setup=nothing -->\n```python\nx = 1\n```\n", "unknown sample directive"),
        ("<!-- sample: skip -->\n```python\nx = 1\n```\n", "unknown sample directive"),
        ("<!-- sample: setup=django -->\n\n```python\nx = 1\n```\n", "right before"),
        ("<!-- sample: setup=django -->\n```bash\nls\n```\n", "before a python block"),
        ("```python\nx = 1\n", "never closed"),
    ],
)
def test_a_page_breaking_the_conventions_is_refused(page: str, message: str) -> None:
    with pytest.raises(SampleError, match=message):
        parse_blocks(page, "page.md")


# -- the runner, in the page's own process ------------------------------------------------------


def _setup_django() -> None:
    """Configure Django from the ``settings`` module that a ``# settings.py`` block wrote.

    As manage.py would: Django reads its settings module when it is set up.
    """
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    import django

    django.setup()


SETUPS: dict[str, Callable[[], None]] = {"django": _setup_django}


def run_page(spec_path: str) -> int:
    """Run the blocks of one page in order, in this process; print a line per block."""
    spec = json.loads(Path(spec_path).read_text())
    workdir = Path.cwd()
    sys.path[0] = str(workdir)  # the page's files, not this folder's modules
    # The samples run as the __main__ module, as a script of the user's would (runpy does the
    # same); this runner keeps its own globals.
    main = types.ModuleType("__main__")
    sys.modules["__main__"] = main
    namespace = main.__dict__
    blocks = spec["blocks"]
    for number, block in enumerate(blocks, 1):
        print(f"--- sample {number} of {len(blocks)}: {spec['page']}:{block['line']}", flush=True)
        for name in block["setups"]:
            SETUPS[name]()
        if block["file"]:
            _write_module(workdir, block["file"], block["code"])
            importlib.import_module(block["file"].removesuffix(".py").replace("/", "."))
        else:
            # Blank lines first: tracebacks then give the line numbers of the page itself.
            source = "\n" * (block["line"] - 1) + block["code"]
            exec(compile(source, spec["page"], "exec"), namespace)
    print(f"ran {len(blocks)} samples", flush=True)
    return 0


def _write_module(workdir: Path, path: str, code: str) -> None:
    target = workdir / path
    target.parent.mkdir(parents=True, exist_ok=True)
    folder = target.parent
    while folder != workdir:
        (folder / "__init__.py").touch()
        folder = folder.parent
    target.write_text(code)
    importlib.invalidate_caches()


if __name__ == "__main__":
    sys.exit(run_page(sys.argv[1]))
