"""stopsms.smsc: the built-in SMSC simulator (``stopsms smsc``) for tests, demo and benchmarks."""

from stopsms.smsc.scenario import Scenario, ScenarioError, parse_scenario
from stopsms.smsc.server import MoRecord, SmscSimulator, SubmittedMessage

__all__ = [
    "MoRecord",
    "Scenario",
    "ScenarioError",
    "SmscSimulator",
    "SubmittedMessage",
    "parse_scenario",
]
