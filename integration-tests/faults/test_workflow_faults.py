"""Workflow callbacks run exactly once: workers killed, Redis crashed, members ending at once.

Each group's callbacks are at-most-once jobs, so a callback triggered twice would start twice,
and one never triggered would never start: the ledger must show exactly one start of each.
"""

import time

import pytest
from faults.harness import Fleet, Ledger, drained, wait_until
from redis_server import RedisServer

from spinach import Engine, Group, Step

pytestmark = pytest.mark.redis


def _send_groups(spin: Engine, groups: int, members: int, ms: int) -> dict[str, set[str]]:
    """Send `groups` groups of `members` steps; return each group's member keys."""
    expected = {}
    for g in range(groups):
        keys = {f"g{g}m{i}" for i in range(members)}
        expected[f"g{g}"] = keys
        spin.schedule_workflow(
            Group(
                *(Step("member", key, ms) for key in sorted(keys)),
                on_success=Step("joined", f"g{g}"),
                on_complete=Step("completed", f"g{g}"),
            )
        )
    return expected


def _callbacks_ran(server: RedisServer, groups: int) -> bool:
    ledger = Ledger(server.client())
    return (
        sum(ledger.count("start", "joined").values()) >= groups
        and sum(ledger.count("start", "completed").values()) >= groups
    )


def _check_exactly_once(server: RedisServer, expected: dict[str, set[str]]) -> None:
    ledger = Ledger(server.client())
    joined = ledger.count("start", "joined")
    completed = ledger.count("start", "completed")
    lost = [g for g, keys in expected.items() if ledger.count("end", "member").keys() < keys]
    assert not lost, f"group members never completed: {lost[:5]}"
    for group, keys in expected.items():
        results = "+".join(sorted(keys))
        assert joined[f"{group}={results}"] == 1, (group, joined)
        assert completed[f"{group}={len(keys)}"] == 1, (group, completed)
    assert sum(joined.values()) == sum(completed.values()) == len(expected)


def test_callbacks_run_once_when_workers_are_killed_mid_group(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    expected = _send_groups(client_engine, groups=30, members=5, ms=150)
    victim = fleet.start(THREADS="4", LEASE="1.0")
    fleet.start(THREADS="4", LEASE="1.0")
    wait_until(
        lambda: Ledger(server.client()).count("end", "member").total() >= 20, 30, "members ran"
    )
    victim.kill()  # mid-run: its members' leases expire and run again elsewhere
    fleet.start(THREADS="4", LEASE="1.0")
    wait_until(
        lambda: _callbacks_ran(server, len(expected)) and drained(client_engine),
        60,
        "every group's callbacks",
        diagnose=lambda: fleet.logs()[-3000:],
    )
    time.sleep(0.5)  # a callback triggered twice would have started by now
    _check_exactly_once(server, expected)


@pytest.mark.aof
def test_callbacks_run_once_when_redis_crashes_and_restarts_from_its_aof(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    expected = _send_groups(client_engine, groups=30, members=5, ms=100)
    fleet.start(THREADS="4", LEASE="1.0")
    fleet.start(THREADS="4", LEASE="1.0")
    wait_until(
        lambda: Ledger(server.client()).count("end", "member").total() >= 30, 30, "members ran"
    )
    server.crash()  # SIGKILL: what survives is what the AOF (fsync always) holds
    time.sleep(0.5)
    server.start()
    wait_until(
        lambda: _callbacks_ran(server, len(expected)) and drained(client_engine),
        60,
        "every group's callbacks after the restart",
        diagnose=lambda: fleet.logs()[-3000:],
    )
    time.sleep(0.5)
    _check_exactly_once(server, expected)


def test_callbacks_run_once_when_members_end_at_the_same_instant(
    server: RedisServer, fleet: Fleet, client_engine: Engine
) -> None:
    expected = _send_groups(client_engine, groups=100, members=8, ms=0)
    for _ in range(3):
        fleet.start(THREADS="8", LEASE="2.0")
    wait_until(
        lambda: _callbacks_ran(server, len(expected)) and drained(client_engine),
        60,
        "every group's callbacks",
        diagnose=lambda: fleet.logs()[-3000:],
    )
    time.sleep(0.5)
    _check_exactly_once(server, expected)
