"""Brokers: where jobs wait. Both run the same spinach-lua scripts."""

from spinach.brokers.base import Broker
from spinach.brokers.memory import MemoryBroker
from spinach.brokers.redis import RedisBroker

__all__ = ["Broker", "MemoryBroker", "RedisBroker"]
