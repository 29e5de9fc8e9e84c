"""Find the user's Engine by its ``module:attribute`` path, and say why it cannot be loaded."""

import importlib
import os
import sys
import traceback
from typing import Any

from spinach.engine import Engine


def load_engine(path: str) -> Engine:
    """Import ``module:attribute`` and return the Engine it names."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"Expected module:attribute (for example shop.tasks:spin), got {path!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    obj: Any = importlib.import_module(module_name)
    for part in attribute.split("."):
        obj = getattr(obj, part)
    if not isinstance(obj, Engine):
        raise TypeError(f"{path} is a {type(obj).__name__}, not a spinach Engine")
    return obj


def load_error(path: str, error: BaseException) -> str:
    """``Cannot load PATH: ERROR``, then the traceback of the user's code that raised, if any.

    The frames of the import machinery and of the worker package are left out: they say nothing
    about the user's bug. A module that does not exist, or an attribute that is not an Engine,
    gets the one line alone.
    """
    tb = error.__traceback__
    while tb is not None and _machinery(tb.tb_frame.f_code.co_filename):
        tb = tb.tb_next
    message = f"Cannot load {path}: {error}"
    if tb is None:
        return message
    lines = traceback.format_exception(type(error), error, tb)
    return message + "\n" + "".join(lines).rstrip("\n")


_OURS = os.path.dirname(os.path.realpath(__file__)) + os.sep
_IMPORTLIB = os.path.realpath(importlib.__file__)


def _machinery(filename: str) -> bool:
    """Whether a frame is the command's or the import system's, not the user's."""
    if filename.startswith("<frozen importlib"):
        return True
    path = os.path.realpath(filename)
    return path.startswith(_OURS) or path == _IMPORTLIB
