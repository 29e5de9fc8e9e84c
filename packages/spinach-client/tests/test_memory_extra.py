"""The embedded broker is an extra: without it, MemoryBroker says what to install."""

import sys

import pytest

from spinach import MemoryBroker
from spinach.exc import MemoryBrokerNotInstalledError, SpinachError


@pytest.mark.parametrize("module", ["fakeredis", "lupa"])
def test_memory_broker_without_the_extra_names_the_extra_to_install(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, module, None)  # what `import` does when it is not installed
    with pytest.raises(MemoryBrokerNotInstalledError) as caught:
        MemoryBroker()
    message = str(caught.value)
    assert "pip install 'spinach-client[memory]'" in message
    assert f"{module} is not installed" in message


def test_the_missing_extra_error_is_a_spinach_error_and_an_import_error() -> None:
    assert issubclass(MemoryBrokerNotInstalledError, SpinachError)
    assert issubclass(MemoryBrokerNotInstalledError, ImportError)
