"""SafeNamedSignal logs failing receivers and still calls the others."""

import logging

import pytest

from spinach.signals import SafeNamedSignal


def test_a_failing_receiver_is_logged_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    signal = SafeNamedSignal("test_signal")
    calls: list[str] = []

    def bad(sender: str, **kwargs: object) -> None:
        raise RuntimeError("boom")

    def good(sender: str, **kwargs: object) -> str:
        calls.append(sender)
        return "ok"

    signal.connect(bad)
    signal.connect(good)
    with caplog.at_level(logging.ERROR):
        results = signal.send("ns", job=None)
    assert calls == ["ns"]
    assert [r for _, r in results] == ["ok"]
    assert "test_signal" in caplog.text and "boom" in caplog.text
    assert repr(signal) == "SafeNamedSignal 'test_signal'"
