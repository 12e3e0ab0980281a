"""Every detector the engine runs, in one table: what it watches, raises, reads and detects.

The engine builds its detectors from `REGISTRY` and derives from it which readings go
to which detector (`Route`), which detectors run timers (`tick`, `next_due`), what a
checkpoint holds (`DetectorSpec.name`), which ``[rules.*]`` tables take per-scope
overrides (`DetectorSpec.scoped`), and which simulator scenarios each alert kind detects
(`DETECTS`, the evaluation's table). Each rule model names the credit matrix component
its alerts count in (`matrix_components`). Adding a detector is one module (its class and
rule model) and one entry here.

Order matters only where one detector builds on another in the same reading: the
double-pledge detector pairs the moves the movement detector found in it, the decline
detector judges the hours the operations detector closed on it. A lot's weight readings
take one route (`lot_chain.LotChain`) through the lot detectors in a fixed order, each called only
when it has work.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from devices.model import DeviceKind
from devices.reading import Reading
from riskstream.detectors.charts import (
    ChartMaker,
    cold_chain_charts,
    geofence_charts,
    inventory_charts,
    lines_charts,
    parked_charts,
    position_charts,
)
from riskstream.detectors.cohort_anomaly import AnomalyRule
from riskstream.detectors.cold_chain import ColdChainDetector, ColdChainRule
from riskstream.detectors.custom import CustomDetector
from riskstream.detectors.data_integrity import (
    DataIntegrityDetector,
    DataIntegrityRule,
    MessagesLostRule,
)
from riskstream.detectors.deadman import DeadmanDetector, DeadmanRule
from riskstream.detectors.double_pledge import DoublePledgeDetector, DoublePledgeRule
from riskstream.detectors.geofence import GeofenceDetector, GeofenceRule
from riskstream.detectors.inventory import InventoryDetector, InventoryRule
from riskstream.detectors.lot_chain import LotChain
from riskstream.detectors.lot_weight import LoadCellFaultRule, LotWeightDetector
from riskstream.detectors.movement import MovementDetector, OutOfHoursRule
from riskstream.detectors.operations import METRICS as OPERATIONS_METRICS
from riskstream.detectors.operations import (
    MachineIdleRule,
    OperationsDetector,
    ProductionDriftRule,
    ProductionSlowdownRule,
)
from riskstream.detectors.parked_moving import ParkedMovingDetector, ParkedMovingRule
from riskstream.detectors.pledged_elsewhere import PledgedElsewhereDetector, PledgedElsewhereRule
from riskstream.detectors.position_implausible import (
    PositionImplausibleDetector,
    PositionImplausibleRule,
)
from riskstream.detectors.production_decline import DeclineDetector, ProductionDeclineRule
from riskstream.detectors.series_anomaly import SeriesAnomalyDetector
from riskstream.detectors.slow_loss import SlowLossDetector, SlowLossRule
from riskstream.detectors.stuck_values import StuckValuesDetector, StuckValuesRule
from riskstream.engine.alerts import Alert, AlertBook
from riskstream.engine.fleet_index import DeviceContext, FleetIndex
from riskstream.rules.fields import AlertComponent, RuleTable

if TYPE_CHECKING:
    from riskstream.rules.schema import RuleSet

Changed = dict[str, Alert]


class Host(Protocol):
    """What a detector's steps see of the engine."""

    book: AlertBook

    def detector(self, name: str) -> Any:
        """The engine's detector registered as ``name``."""


Step = Callable[[Any, Host, Reading, DeviceContext, float, Changed], None]
"""(the detector, the engine, a reading, its device, wall time, changed alerts by id)."""


BoundStep = Callable[[Reading, DeviceContext, float, Changed], None]
"""A step bound to its detector and engine: (a reading, its device, wall time, changed)."""


@dataclass(frozen=True, slots=True)
class Route:
    """Readings a detector takes: those ``watches`` accepts go through ``step``, or,
    when ``bind`` is given, through the step it builds for the detector and the engine
    (once per routing table: it may keep references to what it reads)."""

    watches: Callable[[Any, DeviceContext, str], bool]
    step: Step | None = None
    bind: Callable[[Any, Host], BoundStep] | None = None

    def __post_init__(self) -> None:
        if (self.step is None) == (self.bind is None):
            raise ValueError("a Route takes a step or a bind, not both")

    def bound(self, detector: Any, host: Host) -> BoundStep:
        """The step of ``detector`` in engine ``host``."""
        if self.bind is not None:
            return self.bind(detector, host)
        assert self.step is not None
        return partial(self.step, detector, host)


@dataclass(frozen=True, slots=True)
class Detects:
    """An alert kind that detects a simulator scenario, and the truth field its subject
    equals; ``lead_s``: how long before the record's start it may rightly see it."""

    scenario: str
    kind: str
    subject: str
    lead_s: float = 0.0


R = TypeVar("R", bound=RuleTable)


@dataclass(frozen=True, slots=True)
class DetectorSpec:
    """One registered detector.

    Attributes:
        name: the engine's name for it, and its part of a checkpoint.
        tables: the alert kinds it raises, each with the model of its ``[rules.<kind>]``
            table (`riskstream.rules.schema.Rules` is built from these); custom rules'
            kinds are the user's.
        make: builds it for a fleet index and rule set.
        use_rules: puts a new rule set in force, keeping what it learned.
        scoped: the ``[rules.*]`` table it reads as ``rule``, swapped per device when
            ``[[overrides]]`` apply (None: it reads the whole service's rules).
        routes: the readings it takes (none: fed otherwise, e.g. by ingest's signals).
        tick: runs its timers as of a clock time.
        next_due: the earliest clock time its `tick` may change anything.
        detects: the simulator scenarios its alerts detect.
        charts: what the evidence of its alerts charts (None: the device's metrics).
        across_lenders: its alerts come of the platform's match across lenders
            (`riskstream.engine.platform_match`): its scenario needs two lenders' fleets
            (`riskstream simulate cross-pledge`), not one fleet's injected scenarios.
        also_raises: alert kinds it raises whose ``[rules.<kind>]`` table another detector
            registers (their matrix component is that table's).
        area: the section of the user guide's "What the rules watch" that describes it,
            with its ``guides/<name>.md`` (generated by `riskstream.docs_gen`).
    """

    name: str
    tables: dict[str, type[RuleTable]]
    make: Callable[[FleetIndex, "RuleSet"], Any]
    use_rules: Callable[[Any, "RuleSet"], None]
    scoped: str | None = None
    routes: tuple[Route, ...] = ()
    tick: Callable[[Any, float, AlertBook, float], Sequence[Alert]] | None = None
    next_due: Callable[[Any, AlertBook], float] | None = None
    detects: tuple[Detects, ...] = ()
    charts: ChartMaker | None = None
    across_lenders: bool = False
    also_raises: tuple[str, ...] = ()
    area: str = "Any sensor"

    @property
    def kinds(self) -> tuple[str, ...]:
        """The alert kinds it raises."""
        return tuple(self.tables)

    @classmethod
    def one_rule(
        cls,
        name: str,
        kind: str,
        rule: type[R],
        detector: Callable[[FleetIndex, R], Any],
        *,
        scoped: bool = True,
        routes: tuple[Route, ...] = (),
        tick: Callable[[Any, float, AlertBook, float], Sequence[Alert]] | None = None,
        next_due: Callable[[Any, AlertBook], float] | None = None,
        detects: tuple[Detects, ...] = (),
        charts: ChartMaker | None = None,
        across_lenders: bool = False,
        area: str = "Any sensor",
    ) -> "DetectorSpec":
        """The usual shape: a detector of one alert ``kind``, built from its fleet index and
        its ``[rules.<kind>]`` table (``rule``), which it reads as its ``rule`` attribute,
        swapped per device under ``[[overrides]]`` unless ``scoped`` is false."""

        def use(detector: Any, rules: "RuleSet") -> None:
            detector.rule = rules.rules.table(rule)

        return cls(
            name=name,
            tables={kind: rule},
            make=lambda index, rules: detector(index, rules.rules.table(rule)),
            use_rules=use,
            scoped=kind if scoped else None,
            routes=routes,
            tick=tick,
            next_due=next_due,
            detects=detects,
            charts=charts,
            across_lenders=across_lenders,
            area=area,
        )


def _one(changed: Changed, alert: Alert | None) -> None:
    if alert is not None:
        changed[alert.id] = alert


def _all(changed: Changed, alerts: Sequence[Alert]) -> None:
    for alert in alerts:
        changed[alert.id] = alert


def _weighs_a_lot(_: object, device: DeviceContext, metric: str) -> bool:
    return metric == "weight_kg" and device.collateral_id is not None


def _tracker(*metrics: str) -> Callable[[object, DeviceContext, str], bool]:
    def watches(_: object, device: DeviceContext, metric: str) -> bool:
        return metric in metrics and device.kind is DeviceKind.GPS_TRACKER

    return watches


def _door_step(
    d: MovementDetector, host: Host, r: Reading, device: DeviceContext, wall: float, c: Changed
) -> None:
    d.door(r, device)


def _gate_step(
    d: MovementDetector, host: Host, r: Reading, device: DeviceContext, wall: float, c: Changed
) -> None:
    assert device.collateral_id is not None
    d.gate(r, device.collateral_id)


def _observe_step(
    d: Any, host: Host, r: Reading, device: DeviceContext, wall: float, c: Changed
) -> None:
    """For detectors whose ``observe(reading, device, book, wall)`` gives one alert or None."""
    _one(c, d.observe(r, device, host.book, wall))


def _observe_all_step(
    d: Any, host: Host, r: Reading, device: DeviceContext, wall: float, c: Changed
) -> None:
    """For detectors whose ``observe(reading, device, book, wall)`` gives a list."""
    _all(c, d.observe(r, device, host.book, wall))


def _parked_step(
    d: ParkedMovingDetector, host: Host, r: Reading, device: DeviceContext, wall: float, c: Changed
) -> None:
    # outside its geofence, the vehicle's alert already says more than this one
    if host.book.is_open(device.tenant, device.borrower_id, "geofence_exit", device.device_id):
        return
    _one(c, d.observe(r, device, host.book, wall))


def _decline_step(
    d: DeclineDetector, host: Host, r: Reading, device: DeviceContext, wall: float, c: Changed
) -> None:
    _one(c, d.observe(host.detector("operations"), device, host.book, wall))


def _set_whole(attribute: str) -> Callable[[Any, "RuleSet"], None]:
    def use(detector: Any, rules: "RuleSet") -> None:
        setattr(detector, attribute, rules)

    return use


def _use_movement(d: MovementDetector, rules: "RuleSet") -> None:
    d.rule = rules.rules.table(OutOfHoursRule)
    d.calendar = rules.calendar


def _use_integrity(d: DataIntegrityDetector, rules: "RuleSet") -> None:
    d.rule = rules.rules.table(DataIntegrityRule)
    d.lost_rule = rules.rules.table(MessagesLostRule)


REGISTRY: tuple[DetectorSpec, ...] = (
    # first: its route takes a lot's weight readings through the lot detectors below
    # (inventory, movement, slow loss, double pledge, pledged elsewhere), which judge the
    # weight it keeps (`lot_chain.LotChain`)
    DetectorSpec.one_rule(
        "lot_weight",
        "load_cell_fault",
        LoadCellFaultRule,
        LotWeightDetector,
        routes=(Route(_weighs_a_lot, bind=LotChain),),
        # a dead cell is also silent, a stuck one also stuck; and a cell of a lot of
        # several that falls silent or repeats itself is set aside as one
        detects=(
            *(
                Detects("cell_fault", kind, "device_id")
                for kind in ("load_cell_fault", "device_silent", "values_stuck")
            ),
            Detects("device_silent", "load_cell_fault", "device_id"),
            Detects("stuck_values", "load_cell_fault", "device_id"),
        ),
        area="Collateral in warehouses",
    ),
    DetectorSpec.one_rule(
        "inventory",
        "inventory_below_pledge",
        InventoryRule,
        InventoryDetector,
        # fed a lot's weight by `lot_chain.LotChain`
        charts=inventory_charts,
        detects=tuple(
            Detects(s, "inventory_below_pledge", "collateral_id")
            for s in (
                "inventory_drain",
                "inventory_removal",
                "double_pledge",
                "unregistered_move",
                "tamper_door",
                "salami_theft",
            )
        ),
        area="Collateral in warehouses",
    ),
    DetectorSpec(
        name="movement",
        tables={"collateral_moved_out_of_hours": OutOfHoursRule},
        make=lambda index, rules: MovementDetector(
            index, rules.rules.table(OutOfHoursRule), rules.calendar
        ),
        use_rules=_use_movement,
        scoped="collateral_moved_out_of_hours",
        # fed a lot's weight by `lot_chain.LotChain`; its doors and gates by these routes
        routes=(
            Route(lambda _, d, m: m == "door_open" and d.kind is DeviceKind.DOOR, _door_step),
            Route(
                lambda _, d, m: m == "units_out_count" and d.collateral_id is not None, _gate_step
            ),
        ),
        # goods leaving in the lot's quiet hours (a drain goes on through the night)
        detects=tuple(
            Detects(s, "collateral_moved_out_of_hours", "collateral_id")
            for s in (
                "inventory_drain",
                "inventory_removal",
                "double_pledge",
                "tamper_door",
                "salami_theft",
            )
        ),
        area="Collateral in warehouses",
    ),
    # after movement: it sums the quiet stretches that detector follows
    DetectorSpec.one_rule(
        "slow_loss",
        "inventory_slow_loss",
        SlowLossRule,
        SlowLossDetector,
        # fed by `lot_chain.LotChain` at the readings the movement detector judged the lot
        # a drain goes on day and night: each quiet stretch loses a little of it
        detects=tuple(
            Detects(s, "inventory_slow_loss", "collateral_id")
            for s in ("salami_theft", "inventory_drain")
        ),
        area="Collateral in warehouses",
    ),
    DetectorSpec.one_rule(
        "double_pledge",
        "double_pledge",
        DoublePledgeRule,
        DoublePledgeDetector,
        # fed by `lot_chain.LotChain` the moves the movement detector finished
        detects=(Detects("double_pledge", "double_pledge", "collateral_id"),),
        area="Collateral in warehouses",
    ),
    # the lender's side of the platform's cross-lender match (`riskstream.engine.lenders`)
    DetectorSpec.one_rule(
        "pledged_elsewhere",
        "pledged_elsewhere",
        PledgedElsewhereRule,
        PledgedElsewhereDetector,
        scoped=False,
        # fed a lot's cell readings by `lot_chain.LotChain` while it is `tracking`
        detects=(Detects("cross_pledge", "pledged_elsewhere", "collateral_id"),),
        across_lenders=True,
        area="Collateral in warehouses",
    ),
    DetectorSpec.one_rule(
        "geofence",
        "geofence_exit",
        GeofenceRule,
        GeofenceDetector,
        routes=(Route(_tracker("lat_deg", "lon_deg"), _observe_step),),
        charts=geofence_charts,
        detects=(
            Detects("geofence_exit", "geofence_exit", "device_id"),
            # a false place beyond the fence shows as outside it, rightly
            Detects("gps_spoof", "geofence_exit", "device_id"),
        ),
        area="Vehicles",
    ),
    DetectorSpec.one_rule(
        "parked_moving",
        "vehicle_moving_when_parked",
        ParkedMovingRule,
        ParkedMovingDetector,
        routes=(Route(_tracker("speed_kmh"), _parked_step),),
        charts=parked_charts,
        detects=(
            Detects("parked_moving", "vehicle_moving_when_parked", "device_id"),
            # a vehicle leaving its fence out of hours moves while it should be parked
            # from when it leaves its round, 30 min before the crossing (simulator/vehicle.py)
            Detects("geofence_exit", "vehicle_moving_when_parked", "device_id", 30 * 60.0),
        ),
        area="Vehicles",
    ),
    DetectorSpec.one_rule(
        "position_implausible",
        "position_implausible",
        PositionImplausibleRule,
        lambda _, rule: PositionImplausibleDetector(rule),
        routes=(Route(_tracker("lat_deg", "lon_deg"), _observe_step),),
        charts=position_charts,
        detects=(
            Detects("gps_spoof", "position_implausible", "device_id"),
            # forged messages repeat the window's first position while the vehicle drives on
            Detects("spoof", "position_implausible", "device_id"),
        ),
        area="Vehicles",
    ),
    DetectorSpec.one_rule(
        "cold_chain",
        "cold_chain_excursion",
        ColdChainRule,
        ColdChainDetector,
        routes=(
            Route(
                lambda _, d, m: m == "temperature_c" and d.kind is DeviceKind.TEMPERATURE,
                _observe_step,
            ),
        ),
        charts=cold_chain_charts,
        detects=(Detects("cold_chain", "cold_chain_excursion", "collateral_id"),),
        area="Sensors and data",
    ),
    DetectorSpec(
        name="stuck",
        tables={"values_stuck": StuckValuesRule},
        make=lambda index, rules: StuckValuesDetector(rules.rules.table(StuckValuesRule)),
        use_rules=lambda d, rules: d.set_rule(rules.rules.table(StuckValuesRule)),
        scoped="values_stuck",
        routes=(Route(lambda d, _, m: m in d.metrics, _observe_step),),
        detects=(Detects("stuck_values", "values_stuck", "device_id"),),
        area="Sensors and data",
    ),
    DetectorSpec(
        name="operations",
        tables={
            "production_slowdown": ProductionSlowdownRule,
            "machine_idle": MachineIdleRule,
            "production_drift": ProductionDriftRule,
            "anomaly": AnomalyRule,
        },
        make=lambda index, rules: OperationsDetector(index, rules),
        # its per-loan rules are the engine's `RuleScope`, which the engine hands it next
        use_rules=_set_whole("rules"),
        routes=(Route(lambda _, __, m: m in OPERATIONS_METRICS, _observe_all_step),),
        # the slowdown lead is the line's output counter (the drift test on its index
        # warns first), the idle lead its machine monitor
        detects=(
            Detects("production_slowdown", "production_slowdown", "device_id"),
            Detects("production_slowdown", "production_drift", "device_id"),
            # a business winding down trends down too, if not below the slowdown's share
            Detects("business_decline", "production_drift", "device_id"),
            Detects("machine_idle", "machine_idle", "device_id"),
        ),
        area="Production lines",
    ),
    DetectorSpec(
        name="decline",
        tables={"production_decline": ProductionDeclineRule},
        make=DeclineDetector,
        use_rules=lambda d, rules: d.use_rules(rules),
        scoped="production_decline",
        # judges the days of the hours the operations detector closed on this reading
        routes=(
            Route(
                lambda d, device, m: m in OPERATIONS_METRICS and device.kind in d.lead_kinds,
                _decline_step,
            ),
        ),
        detects=(
            Detects("business_decline", "production_decline", "device_id"),
            # a slowdown is a steeper fall of the same lead
            Detects("production_slowdown", "production_decline", "device_id"),
        ),
        area="Production lines",
    ),
    # its readings are noted by the engine itself, inline, for speed; its per-device
    # overrides are the engine's too (`Scoping.refresh`)
    DetectorSpec.one_rule(
        "deadman",
        "device_silent",
        DeadmanRule,
        DeadmanDetector,
        scoped=False,
        tick=lambda d, now, book, wall: d.tick(now, book, wall),
        next_due=DeadmanDetector.next_due,
        detects=(Detects("device_silent", "device_silent", "device_id"),),
        area="Sensors and data",
    ),
    DetectorSpec(
        name="data_integrity",
        tables={"data_integrity": DataIntegrityRule, "messages_lost": MessagesLostRule},
        make=lambda index, rules: DataIntegrityDetector(
            index, rules.rules.table(DataIntegrityRule), rules.rules.table(MessagesLostRule)
        ),
        use_rules=_use_integrity,
        # fed ingest's integrity signals by `Engine.integrity`
        tick=lambda d, now, book, wall: d.tick(now, book),
        next_due=lambda d, book: d.next_due(),
        detects=(
            Detects("replay", "data_integrity", "device_id"),
            Detects("spoof", "data_integrity", "device_id"),
        ),
        area="Sensors and data",
    ),
    DetectorSpec(
        name="series_anomaly",
        tables={},
        also_raises=("anomaly",),  # the production lines' kind, on `device/metric`
        make=lambda index, rules: SeriesAnomalyDetector(
            index, rules.rules.table(AnomalyRule).series
        ),
        use_rules=lambda d, rules: d.set_rule(rules.rules.table(AnomalyRule).series),
        routes=(Route(lambda d, _, m: d.watches_metric(m), _observe_step),),
        charts=lines_charts,
    ),
    DetectorSpec(
        name="custom",
        tables={},
        make=lambda index, rules: CustomDetector(rules.rules.custom),
        use_rules=lambda d, rules: d.set_rules(rules.rules.custom),
        routes=(Route(lambda d, _, m: m in d.metrics, _observe_all_step),),
        tick=lambda d, now, book, wall: d.tick(now, book, wall),
        next_due=lambda d, book: d.next_due(),
        charts=lines_charts,
    ),
)

BY_NAME: dict[str, DetectorSpec] = {spec.name: spec for spec in REGISTRY}


def detects() -> dict[str, tuple[Detects, ...]]:
    """For each simulator scenario, the alert kinds (of every registered detector) that
    detect it, in registry order."""
    table: dict[str, list[Detects]] = {}
    for spec in REGISTRY:
        for row in spec.detects:
            table.setdefault(row.scenario, []).append(row)
    return {scenario: tuple(rows) for scenario, rows in table.items()}


def charts_by_kind() -> dict[str, ChartMaker]:
    """The chart maker of each built-in alert kind that has one."""
    return {kind: spec.charts for spec in REGISTRY if spec.charts for kind in spec.kinds}


def matrix_components(specs: Sequence[DetectorSpec] = REGISTRY) -> dict[str, AlertComponent]:
    """The credit matrix component each alert kind of ``specs`` counts in, as its
    ``[rules.<kind>]`` table declares (`RuleTable.matrix_component`)."""
    return {kind: model.matrix_component for spec in specs for kind, model in spec.tables.items()}


def alert_kinds() -> frozenset[str]:
    """Every alert kind a built-in detector raises."""
    return frozenset(kind for spec in REGISTRY for kind in spec.kinds)
