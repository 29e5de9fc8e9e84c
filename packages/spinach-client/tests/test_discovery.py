"""Listing the namespaces of a Redis: from their queue sets, by a bounded SCAN."""

import fakeredis

from spinach.discovery import find_namespaces
from spinach.keys import queue_keys, queues_key


def test_the_namespaces_are_those_with_a_queue_set_and_other_keys_are_ignored() -> None:
    client = fakeredis.FakeRedis()
    for namespace in ("shop", "billing"):
        client.sadd(queues_key(namespace), "spinach")
    client.set("cache:user:1", "x")
    client.set(queue_keys("shop", "spinach").ready, "x")
    # A key of a queue that merely matches the pattern (a parked task named "x}:queues").
    client.rpush(queue_keys("shop", "spinach").parked("x}:queues"), "job")
    found = find_namespaces(client)
    assert (found.names, found.complete) == (["billing", "shop"], True)


def test_the_search_stops_after_its_scan_calls_and_says_it_may_be_incomplete() -> None:
    client = fakeredis.FakeRedis()
    client.mset({f"cache:{i}": "x" for i in range(5000)})
    client.sadd(queues_key("shop"), "spinach")
    found = find_namespaces(client, max_calls=1)
    assert found.complete is False
    assert find_namespaces(client).complete is True
