"""A fleet of simulated devices: fleets, telemetry, risk scenarios and ground truth.

The simulator plays the devices' side of riskstream. It builds a plausible fleet
(`generate_fleet`), plans risk scenarios on it (`plan_scenarios`, kinds in
`SCENARIOS`) and writes their ground truth (`write_truth`) and the loan outcomes they
lead to (`loan_events`, `write_outcomes`), generates the fleet's telemetry
deterministically and in send order (`generate`), and either publishes it to an MQTT
broker paced in event time (`publish`, optionally batched and signed) or writes it to
a backtest CSV or Parquet file (`run_to_file`). It imports only from `devices`: it is
a device, not a server.

The same seeds give the same fleet, plan, telemetry and outcomes, byte for byte.
"""

from simulator.errors import BrokerUrlError, FleetError
from simulator.fleetgen import generate_fleet
from simulator.geo import distance_to_polygon_km, point_in_polygon
from simulator.injection import Injection, TruthRecord, read_truth, truth_records, write_truth
from simulator.message import Message
from simulator.outcomes import LoanEvent, loan_events, write_outcomes
from simulator.publisher import parse_broker_url, publish
from simulator.run import run_to_file
from simulator.scenarios import SCENARIOS, ScenarioKind, plan_scenarios
from simulator.telemetry import generate
from simulator.wire import Packer

__all__ = [
    "SCENARIOS",
    "BrokerUrlError",
    "FleetError",
    "Injection",
    "LoanEvent",
    "Message",
    "Packer",
    "ScenarioKind",
    "TruthRecord",
    "distance_to_polygon_km",
    "generate",
    "generate_fleet",
    "loan_events",
    "parse_broker_url",
    "plan_scenarios",
    "point_in_polygon",
    "publish",
    "read_truth",
    "run_to_file",
    "truth_records",
    "write_outcomes",
    "write_truth",
]
