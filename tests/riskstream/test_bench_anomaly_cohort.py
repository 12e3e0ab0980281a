"""The cohort row of `riskstream bench anomaly`: the generated series as one cohort."""

from riskstream.bench import anomaly as bench_anomaly
from riskstream.bench.anomaly_cohort import COHORT, run_cohort
from riskstream.detectors.anomaly_methods import DAY

START = bench_anomaly.START_TS


def test_a_series_that_leaves_its_cohort_is_found_and_the_others_stay_quiet() -> None:
    clean = [c for c in bench_anomaly.generate(5, 6.0, seed=5) if c.kind == "clean"]
    *others, last = clean
    middle = (last.ts[0] + last.ts[-1]) / 2
    jumped = [v + 500.0 if t >= middle else v for t, v in zip(last.ts, last.values, strict=True)]
    run = run_cohort([*((c.ts, c.values) for c in others), (last.ts, jumped)])
    assert run.alerts[-1] and min(run.alerts[-1]) >= middle
    assert min(run.alerts[-1]) - middle < 3600.0, "found within the hour"
    quiet = sum(len(alerts) for alerts in run.alerts[:-1])
    assert quiet <= 2, f"{quiet} alerts on clean series"
    assert run.seconds > 0 and all(0 < size < 4096 for size in run.state_bytes)


def test_nothing_is_judged_before_the_cohort_and_the_series_warm_up() -> None:
    ts = [START + 60.0 * k for k in range(40)]  # 40 min: under the 3 h warm-up
    run = run_cohort([(ts, [10.0] * 40), (ts, [10.0] * 39 + [1e9])])
    assert run.alerts == [[], []]


def test_worst_inputs_an_empty_cohort_and_a_lone_reading() -> None:
    assert run_cohort([]).alerts == []
    lone = run_cohort([([START], [5.0]), ([], [])])
    assert lone.alerts == [[], []]


def test_the_bench_counts_the_cohort_over_every_series() -> None:
    cases = bench_anomaly.generate(1, 2.0, seed=3)
    found = bench_anomaly.measure(cases)
    assert COHORT in found
    overall = found[COHORT][bench_anomaly.ALL]
    assert overall.readings == sum(len(c.ts) for c in cases)
    assert overall.events == sum(len(c.events) for c in cases)
    assert set(found[COHORT]) == {bench_anomaly.ALL, *(c.kind for c in cases)}
    assert overall.series_days == sum((c.ts[-1] - c.ts[0]) / DAY for c in cases)


def test_each_series_alerts_are_its_own() -> None:
    first, *others = [c for c in bench_anomaly.generate(5, 6.0, seed=5) if c.kind == "clean"]
    middle = (first.ts[0] + first.ts[-1]) / 2
    jumped = [v + 500.0 if t >= middle else v for t, v in zip(first.ts, first.values, strict=True)]
    run = run_cohort([(first.ts, jumped), *((c.ts, c.values) for c in others)])
    assert run.alerts[0] and min(run.alerts[0]) >= middle
    assert sum(len(alerts) for alerts in run.alerts[1:]) <= 2
