"""Fault injection for tests: take a real server "down" without touching it."""

from tests.faults.proxy import FaultProxy

__all__ = ["FaultProxy"]
