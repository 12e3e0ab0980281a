"""`riskstream bench notify` runs end to end (a few changes; the figures are the command's)."""

from riskstream.bench.notify import run_bench


async def test_the_notify_bench_delivers_everything_and_counts_the_retries() -> None:
    # 30 attempts: a delivery failing every one of them at 50 % has odds of 1 in 10⁹
    always, flaky, mail = await run_bench(changes=6, rate=20.0, backoff_s=0.01, attempts=30)
    assert [run.delivered_share for run in (always, flaky, mail)] == [1.0, 1.0, 1.0]
    assert always.attempts_per_delivery == 1.0
    assert flaky.attempts_per_delivery is not None and flaky.attempts_per_delivery > 1.0
    assert 0 < always.p50_ms <= always.p99_ms <= always.max_ms
