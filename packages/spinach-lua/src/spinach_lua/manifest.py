"""Read the script files, parse their contract, flatten their includes and name them.

A script's header is its contract with Python, written once and read by both sides:

    KEYS
      ready     LIST    ids of jobs ready to run
      parked*   LIST    one per task of `tasks`: its jobs held back by its limit
    ARGV
      lease_ms  lease duration in ms
      tasks*    the tasks of this queue the caller knows
      jobs*3    one group of three per job: id, meta, payload
    REPLY
      ids       ids of the jobs fetched

From it the loader writes the script's first lines: `KEY.<name>` and `ARG.<name>` for the fixed
entries; `KEY.<name>` is the list of the keys of a variadic entry (`name*`); `ARG.<name>` is the
index in ARGV of the first element of a variadic argument and `ARG.<name>_n` how many elements
it has (the caller sends each variadic argument's count before it, except for the last one);
and `reply{...}`, which builds the reply `{0, <fields in order>}` and raises if a field is
missing or unknown. Python calls a script by name with named keys and arguments and reads the
reply by field name (spinach.scripts), so nothing ties the two sides together by position.

The SHA1 is computed from the flattened text, which is what Redis hashes, so every host that
installs the same spinach-lua computes the same SHA and shares Redis's script cache.
"""

import dataclasses
import functools
import hashlib
import importlib.resources
import re
from collections.abc import Iterator, Mapping

from spinach_lua.errors import ContractError as ContractError  # named here since 0.1
from spinach_lua.flatten import INCLUDE, Includes, check_names
from spinach_lua.flatten import check_include as check_include

#: Layout of the data the scripts keep in Redis. It changes exactly when scripts of different
#: versions could not share one Redis; every script refuses data written under another version.
#: 2: job records, the failed-job store and cancellation.
#: 3: one record per job (one field of the queue's `jobs` hash) instead of eight parallel
#: hashes; the failed store keeps the job's own record. Schema 3 keys carry the version in their
#: names (see spinach.keys), so scripts never meet data of another schema: the client checks
#: the queue's schema key once, before its first call on the queue.
#: 4: the record gained fields within this release line (results, progress, workflows, the
#: cancel of a running job): a schema 3 record would be misread, so the version moved on.
SCHEMA_VERSION = "4"

_FILE_NAME = re.compile(r"^(?P<name>[a-z_]+)\.lua$")
_HEADER = re.compile(r"\A--\[\[\n(?P<text>.*?)\n\]\]\n", re.DOTALL)
_SECTIONS = ("KEYS", "ARGV", "REPLY")
_ENTRY = re.compile(r"^  (?P<name>[a-z][a-z0-9_]*)(?P<star>\*(?P<group>\d*))?\s+(?P<text>\S.*)$")
_KEY_TYPES = ("STRING", "LIST", "HASH", "ZSET", "SET")


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One named key, argument or reply field of a script's contract."""

    name: str
    #: 0 for a single value; the group size of a variadic entry (1 for `name*`).
    group: int
    description: str

    @property
    def variadic(self) -> bool:
        return self.group > 0


@dataclasses.dataclass(frozen=True)
class LuaScript:
    """One script, ready to send: its contract, and its flattened source and SHA1 (built on
    first use: a process sends a handful of the scripts, and flattening all of them at import
    would cost every worker and web process start-up time for nothing)."""

    name: str
    keys: tuple[Entry, ...]
    argv: tuple[Entry, ...]
    reply: tuple[Entry, ...]
    #: The header with its prologue, and the body with its includes still to flatten.
    _head: str = dataclasses.field(repr=False)
    _body: str = dataclasses.field(repr=False)
    _includes: Includes = dataclasses.field(repr=False, compare=False)

    @functools.cached_property
    def source(self) -> str:
        return self._head + self._includes.flatten(self._body)

    @functools.cached_property
    def sha1(self) -> str:
        return hashlib.sha1(self.source.encode()).hexdigest()

    @property
    def fixed_keys(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.keys if not entry.variadic)

    @property
    def variadic_key(self) -> str | None:
        return next((entry.name for entry in self.keys if entry.variadic), None)

    @property
    def fixed_args(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.argv if not entry.variadic)

    @property
    def variadic_args(self) -> tuple[Entry, ...]:
        return tuple(entry for entry in self.argv if entry.variadic)

    @property
    def reply_fields(self) -> tuple[str, ...]:
        return tuple(entry.name for entry in self.reply)


def parse_contract(name: str, text: str) -> tuple[tuple[Entry, ...], ...]:
    """Return the KEYS, ARGV and REPLY entries of a header, checking their shape."""
    header = _HEADER.match(text)
    if header is None:
        raise ContractError(f"{name}: the file must start with a --[[ ... ]] header")
    sections: dict[str, list[Entry]] = {}
    current: list[Entry] | None = None
    for line in header.group("text").splitlines():
        if line in _SECTIONS:
            if line in sections:
                raise ContractError(f"{name}: section {line} appears twice")
            current = sections[line] = []
            continue
        if not line.strip() or line.startswith("    "):
            continue  # a blank line, or the continuation of a description
        found = _ENTRY.match(line)
        if found is None:
            current = None  # prose
            continue
        if current is None:
            raise ContractError(f"{name}: entry outside a section: {line!r}")
        group = 0 if found.group("star") is None else int(found.group("group") or 1)
        current.append(Entry(found.group("name"), group, found.group("text")))
    for section in _SECTIONS:
        if section not in sections:
            raise ContractError(f"{name}: the header lacks a {section} section")
    keys, argv, reply = (tuple(sections[section]) for section in _SECTIONS)
    for section, entries in zip(_SECTIONS, (keys, argv, reply), strict=True):
        names = [entry.name for entry in entries]
        if len(set(names)) != len(names):
            raise ContractError(f"{name}: a name appears twice in {section}")
        if any(entry.variadic for entry in entries) and section == "REPLY":
            raise ContractError(f"{name}: reply fields cannot be variadic")
    if not keys:
        raise ContractError(f"{name}: a script names the keys it touches")
    if sum(entry.variadic for entry in keys) > 1 or any(e.variadic for e in keys[:-1]):
        raise ContractError(f"{name}: only the last key may be variadic")
    for entry in keys:
        if entry.description.split()[0] not in _KEY_TYPES:
            raise ContractError(f"{name}: key {entry.name} must name its type {_KEY_TYPES}")
    seen_variadic = False
    for entry in argv:
        if entry.variadic:
            seen_variadic = True
        elif seen_variadic:
            raise ContractError(f"{name}: fixed argument {entry.name} after a variadic one")
    return keys, argv, reply


def _prologue(
    name: str, keys: tuple[Entry, ...], argv: tuple[Entry, ...], reply: tuple[Entry, ...]
) -> str:
    """The Lua lines that give names to KEYS, ARGV and the reply fields."""
    fixed_keys = [entry for entry in keys if not entry.variadic]
    lines = [
        "local KEY = {"
        + ", ".join(f"{entry.name} = KEYS[{n}]" for n, entry in enumerate(fixed_keys, 1))
        + "}"
    ]
    for entry in keys:
        if entry.variadic:
            first = len(fixed_keys) + 1
            lines.append(f"KEY.{entry.name} = {{unpack(KEYS, {first})}}")
    fixed_args = [entry for entry in argv if not entry.variadic]
    lines.append(
        "local ARG = {"
        + ", ".join(f"{entry.name} = ARGV[{n}]" for n, entry in enumerate(fixed_args, 1))
        + "}"
    )
    variadic = [entry for entry in argv if entry.variadic]
    at = f"{len(fixed_args) + 1}"
    for n, entry in enumerate(variadic):
        if n < len(variadic) - 1:  # its count comes first
            lines.append(f"ARG.{entry.name}_n = tonumber(ARGV[{at}])")
            lines.append(f"ARG.{entry.name} = {at} + 1")
            at = f"ARG.{entry.name} + ARG.{entry.name}_n"
        else:
            lines.append(f"ARG.{entry.name} = {at}")
            lines.append(f"ARG.{entry.name}_n = #ARGV - ARG.{entry.name} + 1")
    known = ", ".join(f"{entry.name} = true" for entry in reply)
    lines += [
        f"local REPLY_FIELDS = {{{known}}}",
        "local function reply(fields)",
        "  for field in pairs(fields) do",
        "    if not REPLY_FIELDS[field] then",
        f"      error('{name}: unknown reply field ' .. tostring(field))",
        "    end",
        "  end",
        "  local out = {0}",
    ]
    for n, entry in enumerate(reply, 2):
        lines += [
            f"  out[{n}] = fields.{entry.name}",
            f"  if out[{n}] == nil then error('{name}: the reply lacks {entry.name}') end",
        ]
    lines += ["  return out", "end"]
    return "\n".join(lines) + "\n"


def build_script(name: str, text: str, includes: Mapping[str, str] | Includes) -> LuaScript:
    """Parse a script's contract and return it ready to send (flattened on first use)."""
    keys, argv, reply = parse_contract(name, text)
    header = _HEADER.match(text)
    assert header is not None  # checked by parse_contract
    if not isinstance(includes, Includes):
        includes = Includes(includes)
    used = set(INCLUDE.findall(text))
    if unknown := used - includes.names:
        raise ValueError(f"unknown include {sorted(unknown)[0]!r}")
    return LuaScript(
        name=name,
        keys=keys,
        argv=argv,
        reply=reply,
        _head=header.group(0) + _prologue(name, keys, argv, reply),
        _body=text[header.end() :],
        _includes=includes,
    )


class Scripts(Mapping[str, LuaScript]):
    """The scripts of the package by name, each parsed and flattened on first use: a process
    calls a handful of them, and building all of them would cost every start-up."""

    def __init__(self, texts: Mapping[str, str], includes: Includes) -> None:
        self._texts = dict(texts)
        self._includes = includes
        self._built: dict[str, LuaScript] = {}

    def __getitem__(self, name: str) -> LuaScript:
        script = self._built.get(name)
        if script is None:
            built = build_script(name, self._texts[name], self._includes)
            script = self._built.setdefault(name, built)  # one object, whichever thread won
        return script

    def __iter__(self) -> Iterator[str]:
        return iter(self._texts)

    def __len__(self) -> int:
        return len(self._texts)

    def __contains__(self, name: object) -> bool:
        return name in self._texts  # without building it


def load_scripts() -> Mapping[str, LuaScript]:
    """Read every `scripts/<name>.lua` of the package (each is checked on first use)."""
    root = importlib.resources.files("spinach_lua").joinpath("scripts")
    includes = {
        entry.name.removesuffix(".lua"): entry.read_text("utf-8")
        for entry in root.joinpath("includes").iterdir()
        if entry.name.endswith(".lua")
    }
    for name, text in includes.items():
        check_include(name, text)
    check_names(includes)
    texts = {}
    for entry in root.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is not None:
            texts[match.group("name")] = entry.read_text("utf-8")
    return Scripts(texts, Includes(includes))


#: Every script of the package by name.
SCRIPTS: Mapping[str, LuaScript] = load_scripts()
