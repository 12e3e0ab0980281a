"""A small hand-written fleet for unit tests (the simulator makes the big ones), and a
generated fleet cut down to its production lines."""

from devices.model import Fleet, SiteKind
from simulator import generate_fleet

SQUARE = [(50.0, 8.0), (50.0, 8.5), (50.3, 8.5), (50.3, 8.0)]


def small_fleet(tenant: str = "bank-a") -> Fleet:
    """Two borrowers: b1 with a warehouse lot and a truck, b2 with one warehouse lot."""
    return Fleet.model_validate(
        {
            "tenant": {"id": tenant, "name": "Bank A"},
            "borrowers": [
                {
                    "id": "b1",
                    "name": "Copper Trading GmbH",
                    "loans": [
                        {
                            "id": "b1-l1",
                            "principal": 5_000_000,
                            "collateral": [
                                {
                                    "id": "b1-c1",
                                    "quantity": 1000,
                                    "unit": "t",
                                    "unit_value": 8000,
                                    "advance_rate": 0.7,
                                    "site": "b1-w1",
                                },
                                {
                                    "id": "b1-c2",
                                    "quantity": 1,
                                    "unit": "vehicle",
                                    "unit_value": 90000,
                                    "advance_rate": 0.6,
                                    "site": "b1-v1",
                                },
                            ],
                        }
                    ],
                    "sites": [
                        {"id": "b1-w1", "kind": "warehouse", "name": "Hamburg 3"},
                        {
                            "id": "b1-v1",
                            "kind": "vehicle",
                            "name": "truck HH-1",
                            "geofence": [list(p) for p in SQUARE],
                        },
                    ],
                    "devices": [
                        {
                            "id": "b1-d1",
                            "kind": "load_cell",
                            "site": "b1-w1",
                            "collateral": "b1-c1",
                            "interval_s": 60,
                        },
                        {
                            "id": "b1-d2",
                            "kind": "gps_tracker",
                            "site": "b1-v1",
                            "collateral": "b1-c2",
                            "interval_s": 60,
                        },
                    ],
                },
                {
                    "id": "b2",
                    "loans": [
                        {
                            "id": "b2-l1",
                            "principal": 1_000_000,
                            "collateral": [
                                {
                                    "id": "b2-c1",
                                    "quantity": 400,
                                    "unit": "t",
                                    "unit_value": 2000,
                                    "advance_rate": 0.5,
                                    "site": "b2-w1",
                                },
                            ],
                        }
                    ],
                    "sites": [{"id": "b2-w1", "kind": "warehouse"}],
                    "devices": [
                        {
                            "id": "b2-d1",
                            "kind": "load_cell",
                            "site": "b2-w1",
                            "collateral": "b2-c1",
                            "interval_s": 60,
                        },
                    ],
                },
            ],
        }
    )


def production_lines(borrowers: int, seed: int, load_cells: tuple[int, int] = (1, 1)) -> Fleet:
    """A generated fleet cut down to its production lines (fast to simulate);
    ``load_cells`` as `generate_fleet`'s, so that the lines are those of the full fleet."""
    fleet = generate_fleet(borrowers, seed, load_cells=load_cells)
    kept = []
    for b in fleet.borrowers:
        lines = {s.id for s in b.sites if s.kind is SiteKind.PRODUCTION_LINE}
        if lines:
            loans = [
                loan.model_copy(
                    update={"collateral": [c for c in loan.collateral if c.site in lines]}
                )
                for loan in b.loans
            ]
            kept.append(
                b.model_copy(
                    update={
                        "sites": [s for s in b.sites if s.id in lines],
                        "devices": [d for d in b.devices if d.site in lines],
                        "loans": loans,
                    }
                )
            )
    return fleet.model_copy(update={"borrowers": kept})
