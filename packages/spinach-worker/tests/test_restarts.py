"""The restart policy of the supervisor: backoff with jitter, and giving up on a crash loop."""

import pytest

from spinach_worker.restarts import RestartPolicy, Restarts


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_child_that_keeps_dying_waits_longer_each_time_up_to_the_cap() -> None:
    clock = Clock()
    restarts = Restarts(RestartPolicy(first_delay=0.5, max_delay=4.0, give_up_after=99), 1, clock)
    delays = []
    for _ in range(6):
        restarts.started(0)
        clock.now += 1.0  # dies one second after each start
        delays.append(restarts.died(0))
    assert 0.25 <= delays[0] <= 0.5
    assert 0.5 <= delays[1] <= 1.0
    assert 1.0 <= delays[2] <= 2.0
    assert all(2.0 <= d <= 4.0 for d in delays[3:])
    assert restarts.total == [6]


def test_a_child_that_lived_long_before_dying_starts_over_from_a_short_delay() -> None:
    clock = Clock()
    restarts = Restarts(RestartPolicy(first_delay=0.5, stable_after=30.0), 1, clock)
    for _ in range(3):
        restarts.started(0)
        clock.now += 1.0
        restarts.died(0)
    restarts.started(0)
    clock.now += 60.0  # healthy for a minute, then killed
    assert restarts.died(0) <= 0.5
    assert not restarts.crash_looping


def test_children_dying_right_after_start_again_and_again_are_a_crash_loop() -> None:
    clock = Clock()
    restarts = Restarts(RestartPolicy(stable_after=30.0, give_up_after=3), 2, clock)
    restarts.started(0)
    for _ in range(3):
        assert not restarts.crash_looping
        restarts.started(1)
        restarts.died(1)  # slot 1 dies at once, every time...
        clock.now += 100.0
    restarts.died(0)  # ...while slot 0 was healthy: the deploy is broken all the same
    assert restarts.crash_looping


def test_one_early_death_among_long_lives_is_no_crash_loop() -> None:
    clock = Clock()
    restarts = Restarts(RestartPolicy(stable_after=30.0, give_up_after=2), 1, clock)
    for lived in (1.0, 100.0, 1.0, 100.0):
        restarts.started(0)
        clock.now += lived
        restarts.died(0)
        assert not restarts.crash_looping


@pytest.mark.parametrize(
    "kwargs",
    [
        {"first_delay": 0},
        {"first_delay": 5, "max_delay": 1},
        {"give_up_after": 0},
        {"stable_after": 0},
    ],
)
def test_a_nonsensical_policy_is_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="RestartPolicy"):
        RestartPolicy(**kwargs)  # type: ignore[arg-type]
