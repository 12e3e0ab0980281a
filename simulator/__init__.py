"""A fleet of simulated devices: fleets, telemetry, risk scenarios and ground truth.

The simulator plays the devices' side of riskstream. It builds a plausible fleet
(`generate_fleet`), plans risk scenarios on it (`plan_scenarios`) and writes their
ground truth (`write_truth`), generates the fleet's telemetry deterministically and in
event-time order (`generate`), and either publishes it to an MQTT broker paced in
event time (`publish`) or writes it to a backtest CSV (`run_to_file`). It imports only
from `devices`: it is a device, not a server.

The same seeds give the same fleet, plan and telemetry, byte for byte.
"""

from simulator.errors import BrokerUrlError
from simulator.fleetgen import generate_fleet
from simulator.geo import distance_to_polygon_km, point_in_polygon
from simulator.publisher import parse_broker_url, publish
from simulator.run import run_to_file
from simulator.scenarios import (
    SCENARIOS,
    Injection,
    ScenarioKind,
    TruthRecord,
    plan_scenarios,
    read_truth,
    truth_records,
    write_truth,
)
from simulator.telemetry import Message, generate

__all__ = [
    "SCENARIOS",
    "BrokerUrlError",
    "Injection",
    "Message",
    "ScenarioKind",
    "TruthRecord",
    "distance_to_polygon_km",
    "generate",
    "generate_fleet",
    "parse_broker_url",
    "plan_scenarios",
    "point_in_polygon",
    "publish",
    "read_truth",
    "run_to_file",
    "truth_records",
    "write_truth",
]
