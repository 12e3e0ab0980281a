"""What the simulated economy is made of: industries, commodities, vehicles, holidays.

The fleet file has no fields for a lot's handling unit or a perishable's temperature
band, so `describe` writes them into ``Collateral.description`` in a fixed form that
`parse_description` reads back (``"frozen poultry; handling unit 800 kg; store at
-25..-18 °C"``). Fleets written by hand may leave them out: a handling unit of one tonne
is assumed, and goods named "frozen …" are kept at -25..-18 °C.
"""

import re
from dataclasses import dataclass

from devices.model import Collateral

Band = tuple[float, float]


@dataclass(frozen=True, slots=True)
class Commodity:
    """A kind of goods: value per tonne, handling unit and, if perishable, its band."""

    name: str
    value_low: float
    value_high: float
    unit_kg: float
    band_c: Band | None = None


@dataclass(frozen=True, slots=True)
class Industry:
    """How a kind of business trades, works and moves.

    Attributes:
        name: as written in ``Borrower.industry``.
        commodities: goods it keeps in its warehouses.
        production_share: share of such borrowers that run a production line.
        shifts: production shift patterns to choose from (1, 2 or 3 shifts).
        saturday: probability that a borrower works on Saturdays.
        sunday: probability that a borrower works on Sundays.
        season_peak_doy: day of year of the stock and output peak (northern hemisphere).
        season_amplitude: relative size of the yearly cycle.
        payday_boost: extra outflow of goods in the days after paydays (consumer goods).
        vehicles: vehicle kinds (`VEHICLES` keys) its fleet is drawn from.
    """

    name: str
    commodities: tuple[Commodity, ...]
    production_share: float
    shifts: tuple[int, ...]
    saturday: float
    sunday: float
    season_peak_doy: float
    season_amplitude: float
    payday_boost: float
    vehicles: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class VehicleKind:
    """A kind of vehicle pledged as collateral and how it is used."""

    description: str
    value_low: float
    value_high: float
    reach: float  # share of the way from depot to fence its work takes it
    stops: tuple[int, int]  # stops per working day
    speed_kmh: float  # typical speed while working


VEHICLES: dict[str, VehicleKind] = {
    "truck": VehicleKind("heavy goods vehicle", 40_000.0, 150_000.0, 0.7, (3, 5), 45.0),
    "van": VehicleKind("delivery van", 20_000.0, 45_000.0, 0.6, (6, 10), 30.0),
    "loader": VehicleKind("wheel loader", 60_000.0, 250_000.0, 0.15, (8, 14), 8.0),
}

INDUSTRIES: dict[str, Industry] = {
    i.name: i
    for i in (
        Industry(
            "metals trading",
            (
                Commodity("copper cathode", 7800.0, 9500.0, 2500.0),
                Commodity("aluminium ingot", 2100.0, 2600.0, 1000.0),
                Commodity("steel coil", 550.0, 800.0, 20000.0),
            ),
            production_share=0.0,
            shifts=(1,),
            saturday=0.2,
            sunday=0.0,
            season_peak_doy=80.0,
            season_amplitude=0.05,
            payday_boost=0.0,
            vehicles=("truck", "loader"),
        ),
        Industry(
            "steel service centre",
            (
                Commodity("steel coil", 550.0, 800.0, 20000.0),
                Commodity("steel sheet", 650.0, 900.0, 3000.0),
            ),
            production_share=1.0,
            shifts=(2, 3),
            saturday=0.5,
            sunday=0.0,
            season_peak_doy=100.0,
            season_amplitude=0.08,
            payday_boost=0.0,
            vehicles=("truck", "loader"),
        ),
        Industry(
            "agribusiness",
            (
                Commodity("wheat", 200.0, 300.0, 1000.0),
                Commodity("soybeans", 380.0, 520.0, 1000.0),
                Commodity("raw sugar", 400.0, 560.0, 1000.0),
            ),
            production_share=0.4,
            shifts=(1, 2),
            saturday=0.6,
            sunday=0.1,
            season_peak_doy=270.0,
            season_amplitude=0.25,
            payday_boost=0.0,
            vehicles=("truck", "loader"),
        ),
        Industry(
            "food processing",
            (
                Commodity("frozen poultry", 2200.0, 3000.0, 800.0, (-25.0, -18.0)),
                Commodity("chilled dairy", 3000.0, 4200.0, 600.0, (0.0, 6.0)),
                Commodity("dairy powder", 2800.0, 3600.0, 1000.0),
            ),
            production_share=1.0,
            shifts=(2, 3),
            saturday=0.7,
            sunday=0.3,
            season_peak_doy=340.0,
            season_amplitude=0.15,
            payday_boost=0.3,
            vehicles=("truck", "van"),
        ),
        Industry(
            "chemicals",
            (
                Commodity("polyethylene pellets", 1000.0, 1400.0, 1375.0),
                Commodity("fertiliser", 300.0, 450.0, 1000.0),
            ),
            production_share=1.0,
            shifts=(3,),
            saturday=1.0,
            sunday=1.0,
            season_peak_doy=90.0,
            season_amplitude=0.12,
            payday_boost=0.0,
            vehicles=("truck",),
        ),
    )
}

DEFAULT_INDUSTRY = Industry(
    "other",
    (Commodity("goods", 1000.0, 2000.0, 1000.0),),
    production_share=0.5,
    shifts=(1,),
    saturday=0.0,
    sunday=0.0,
    season_peak_doy=180.0,
    season_amplitude=0.05,
    payday_boost=0.0,
    vehicles=("truck",),
)

# Fixed-date public holidays (month, day) by timezone; movable feasts are left out.
HOLIDAYS: dict[str, tuple[tuple[int, int], ...]] = {
    "Europe/Amsterdam": ((1, 1), (4, 27), (5, 5), (12, 25), (12, 26)),
    "Europe/Berlin": ((1, 1), (5, 1), (10, 3), (12, 25), (12, 26)),
    "Europe/Brussels": ((1, 1), (5, 1), (7, 21), (8, 15), (11, 1), (11, 11), (12, 25)),
    "Europe/Paris": ((1, 1), (5, 1), (5, 8), (7, 14), (8, 15), (11, 1), (11, 11), (12, 25)),
    "Europe/Rome": ((1, 1), (1, 6), (4, 25), (5, 1), (6, 2), (8, 15), (11, 1), (12, 8), (12, 25)),
    "Europe/Madrid": ((1, 1), (1, 6), (5, 1), (8, 15), (10, 12), (11, 1), (12, 8), (12, 25)),
    "Europe/Warsaw": ((1, 1), (1, 6), (5, 1), (5, 3), (8, 15), (11, 1), (11, 11), (12, 25)),
    "Asia/Shanghai": ((1, 1), (5, 1), (5, 2), (5, 3), (10, 1), (10, 2), (10, 3), (10, 4)),
    "America/Chicago": ((1, 1), (6, 19), (7, 4), (11, 11), (12, 25)),
    "America/Sao_Paulo": ((1, 1), (4, 21), (5, 1), (9, 7), (10, 12), (11, 2), (11, 15), (12, 25)),
    "Asia/Singapore": ((1, 1), (5, 1), (8, 9), (12, 25)),
    "Asia/Kolkata": ((1, 26), (8, 15), (10, 2), (12, 25)),
}
DEFAULT_HOLIDAYS: tuple[tuple[int, int], ...] = ((1, 1), (12, 25))

DEFAULT_UNIT_KG = 1000.0
FROZEN_BAND: Band = (-25.0, -18.0)

_UNIT = re.compile(r"handling unit (\d+(?:\.\d+)?) kg")
_BAND = re.compile(r"store at (-?\d+(?:\.\d+)?)\.\.(-?\d+(?:\.\d+)?) ?°?C")


def industry(name: str) -> Industry:
    """The industry called ``name``, or a plain default for names not in the catalogue."""
    return INDUSTRIES.get(name, DEFAULT_INDUSTRY)


def describe(commodity: Commodity) -> str:
    """A collateral description carrying the handling unit and temperature band."""
    text = f"{commodity.name}; handling unit {commodity.unit_kg:g} kg"
    if commodity.band_c is not None:
        low, high = commodity.band_c
        text += f"; store at {low:g}..{high:g} °C"
    return text


def lot_properties(collateral: Collateral) -> tuple[float, Band | None]:
    """Handling unit (kg) and temperature band of a lot: its fields, else its description."""
    unit_kg, band = parse_description(collateral.description)
    if collateral.handling_unit_kg is not None:
        unit_kg = collateral.handling_unit_kg
    if collateral.temperature_band_c is not None:
        band = collateral.temperature_band_c
    return unit_kg, band


def parse_description(description: str) -> tuple[float, Band | None]:
    """Handling unit (kg) and temperature band (°C, or None) named in a description."""
    unit = _UNIT.search(description)
    band = _BAND.search(description)
    unit_kg = float(unit.group(1)) if unit else 0.0
    if unit_kg <= 0.0:
        unit_kg = DEFAULT_UNIT_KG
    if band:
        low, high = float(band.group(1)), float(band.group(2))
        return unit_kg, (min(low, high), max(low, high))
    if "frozen" in description.lower():
        return unit_kg, FROZEN_BAND
    return unit_kg, None
