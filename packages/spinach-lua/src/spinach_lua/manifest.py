"""Read the script files, flatten their includes and name them.

The SHA1 is computed from the flattened text, which is what Redis hashes, so every host that
installs the same spinach-lua computes the same SHA and shares Redis's script cache.
"""

import dataclasses
import hashlib
import importlib.resources
import re
from collections.abc import Mapping
from types import MappingProxyType

#: Layout of the data the scripts keep in Redis. It changes exactly when scripts of different
#: versions could not share one Redis; every script refuses data written under another version.
#: 2: job records, the failed-job store and cancellation (new keys that workers of schema 1
#: would neither fill nor clean).
SCHEMA_VERSION = "2"

_FILE_NAME = re.compile(r"^(?P<name>[a-z_]+)-(?P<keys>\d+)\.lua$")
_INCLUDE = re.compile(r'^--- @include "(?P<name>[a-z_]+)"$', re.MULTILINE)


@dataclasses.dataclass(frozen=True, slots=True)
class LuaScript:
    """One script, ready to send: its flattened source, SHA1 and number of keys."""

    name: str
    num_keys: int
    source: str
    sha1: str


def _flatten(source: str, includes: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group("name")
        if name not in includes:
            raise ValueError(f"unknown include {name!r}")
        return includes[name]

    return _INCLUDE.sub(replace, source)


def load_scripts() -> Mapping[str, LuaScript]:
    """Read every `scripts/<name>-<NKEYS>.lua` of the package."""
    root = importlib.resources.files("spinach_lua").joinpath("scripts")
    includes = {
        entry.name.removesuffix(".lua"): entry.read_text("utf-8")
        for entry in root.joinpath("includes").iterdir()
        if entry.name.endswith(".lua")
    }
    scripts: dict[str, LuaScript] = {}
    for entry in root.iterdir():
        match = _FILE_NAME.match(entry.name)
        if match is None:
            continue
        source = _flatten(entry.read_text("utf-8"), includes)
        scripts[match.group("name")] = LuaScript(
            name=match.group("name"),
            num_keys=int(match.group("keys")),
            source=source,
            sha1=hashlib.sha1(source.encode()).hexdigest(),
        )
    return MappingProxyType(scripts)


#: Every script of the package by name.
SCRIPTS: Mapping[str, LuaScript] = load_scripts()
