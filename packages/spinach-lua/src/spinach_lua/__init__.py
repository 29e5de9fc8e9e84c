"""The versioned Lua scripts that make every Spinach state change atomic.

Both the client and the worker load these scripts, and so does the embedded broker, so every
broker runs the very same state machine.
"""

from spinach_lua.errors import ScriptError
from spinach_lua.manifest import SCHEMA_VERSION, SCRIPTS, LuaScript, load_scripts

__all__ = ["SCHEMA_VERSION", "SCRIPTS", "LuaScript", "ScriptError", "load_scripts"]
__version__ = "0.1.0"
