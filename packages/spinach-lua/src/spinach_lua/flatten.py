"""Put a script's includes in place, less the include functions it never calls.

Every `local function` of an include is a closure Redis builds again on every call of a script
(a script is one chunk, run whole each time): a script that includes thirteen files would pay
for a hundred closures it mostly does not use. So a function of an include is kept only when
the script's own code, an include's other statements, or a function kept for them names it.
A script's own functions are always kept.
"""

import re
import threading
from collections.abc import Mapping

from spinach_lua.errors import ContractError

#: `--- @include "name"`, alone on its line.
INCLUDE = re.compile(r'^--- @include "(?P<name>[a-z_]+)"$', re.MULTILINE)
_IDENTIFIER = re.compile(r"\b[A-Za-z_][A-Za-z0-9_]*\b")
_COMMENT = re.compile(r"--\[\[.*?\]\]|--[^\n]*", re.DOTALL)
#: A top-level function of an include with the comment lines just above it: from its
#: `local function` line to the first `end` at the start of a line.
_FUNCTION = re.compile(
    r"^(?:--[^\n]*\n)*local function (?P<name>[A-Za-z_][A-Za-z0-9_]*)\(.*?^end\n",
    re.MULTILINE | re.DOTALL,
)
_DEFINED = re.compile(r"^local function ([A-Za-z_][A-Za-z0-9_]*)\(", re.MULTILINE)

#: One lock for every Includes: it cuts each file once, and an Includes stays plain data (a
#: LuaScript that holds one can be pickled or copied).
_CUTTING = threading.Lock()

#: A piece of an include: the function it defines (None for the text between functions), its
#: text, and the names that text uses.
Piece = tuple[str | None, str, frozenset[str]]


def check_include(name: str, text: str) -> None:
    """Refuse an include whose top-level functions the pruning cannot delimit."""
    starts = len(re.findall(r"^local function ", text, re.MULTILINE))
    ends = len(re.findall(r"^end\b", text, re.MULTILINE))
    if starts != ends or re.search(r"^function ", text, re.MULTILINE):
        raise ContractError(
            f"include {name}: every top-level function must be `local function name(...)` "
            "closed by an `end` alone at the start of a line, and no other line may start "
            "with `end`"
        )


def check_names(texts: Mapping[str, str]) -> None:
    """Refuse two includes that define a function of the same name: which one a script gets
    would depend on the order of its includes."""
    where: dict[str, str] = {}
    for include, text in sorted(texts.items()):
        for function in _DEFINED.findall(text):
            if function in where:
                raise ContractError(
                    f"includes {where[function]} and {include} both define {function}(): rename one"
                )
            where[function] = include


class Includes:
    """The include files, each cut into its top-level functions and the rest on first use."""

    def __init__(self, texts: Mapping[str, str]) -> None:
        self._texts = dict(texts)
        self._pieces: dict[str, list[Piece]] = {}

    @property
    def names(self) -> set[str]:
        return set(self._texts)

    def _cut(self, name: str) -> list[Piece]:
        with _CUTTING:
            pieces = self._pieces.get(name)
            if pieces is not None:
                return pieces
            if name not in self._texts:
                raise ValueError(f"unknown include {name!r}")
            text = self._texts[name]
            pieces, at = [], 0
            for match in _FUNCTION.finditer(text):
                between = text[at : match.start()]
                pieces.append((None, between, _names(between)))
                pieces.append((match.group("name"), match.group(0), _names(match.group(0))))
                at = match.end()
            pieces.append((None, text[at:], _names(text[at:])))
            self._pieces[name] = pieces
            return pieces

    def flatten(self, source: str) -> str:
        """`source` with its includes in place, less the include functions it never calls."""
        used = {match["name"]: self._cut(match["name"]) for match in INCLUDE.finditer(source)}
        calls: dict[str, frozenset[str]] = {}  # the functions of the includes it uses
        pending = set(_names(INCLUDE.sub("", source)))  # the script's own code, and
        for pieces in used.values():
            for function, _, names in pieces:
                if function is None:
                    pending |= names  # the includes' statements besides functions
                else:
                    calls[function] = names
        needed: set[str] = set()
        while pending:
            name = pending.pop()
            if name in calls and name not in needed:
                needed.add(name)
                pending |= calls[name] - needed

        def replace(match: re.Match[str]) -> str:
            pieces = used[match["name"]]
            return "".join(text for name, text, _ in pieces if name is None or name in needed)

        return INCLUDE.sub(replace, source)


def _names(code: str) -> frozenset[str]:
    """The identifiers of Lua code, its comments left out."""
    return frozenset(_IDENTIFIER.findall(_COMMENT.sub("", code)))
