"""A batch with rows the store cannot hold: those rows are dead-lettered, the rest stored."""

from pathlib import Path

import pytest

from devices.reading import Reading
from ingest.isolate import write_isolating
from ingest.stores import DuckDBStore, StoreUnavailableError


def readings(n: int, bad: set[int]) -> list[Reading]:
    return [
        Reading("bank", "d1", 1_795_000_000.0 + i, "weight_kg", float(i), 2**64 if i in bad else i)
        for i in range(n)
    ]


@pytest.mark.parametrize("bad", [set(), {0}, {7}, {0, 999}, {3, 4, 5, 500, 998}])
def test_only_the_rows_at_fault_are_refused(tmp_path: Path, bad: set[int]) -> None:
    store = DuckDBStore(tmp_path / "t.duckdb")
    refused: list[Reading] = []
    kept = write_isolating(store, readings(1000, bad), lambda r, exc: refused.append(r))
    assert kept == store.count() == 1000 - len(bad)
    assert sorted(int(r.value) for r in refused) == sorted(bad)
    stored = {ts for ts, _ in store.query("d1", "weight_kg", 0, 2e9)}
    assert len(stored) == 1000 - len(bad)
    store.close()


def test_a_store_in_trouble_is_not_taken_for_bad_data(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "t.duckdb")
    store.close()
    refused: list[Reading] = []
    with pytest.raises(StoreUnavailableError):
        write_isolating(store, readings(10, set()), lambda r, exc: refused.append(r))
    assert refused == []
