"""`riskstream bench …`: throughput, latency and memory benchmarks (never timed tests).

Each benchmark lives in its own module ``riskstream/bench/<name>.py`` exposing
``register(bench_app)``; add the module name to `BENCH_MODULES` to list it here.
"""

import importlib

import typer

BENCH_MODULES: list[str] = [
    "simulate",
    "ingest",
    "engine",
    "latency",
    "fuzz",
    "login",
    "anomaly",
    "cluster",
    "notify",
]


def register(app: typer.Typer) -> None:
    """Add the `bench` group and every benchmark module's commands."""
    if not BENCH_MODULES:
        return
    bench_app = typer.Typer(
        help="Benchmarks: rates and ratios measured on this machine.", no_args_is_help=True
    )
    for name in BENCH_MODULES:
        importlib.import_module(f"riskstream.bench.{name}").register(bench_app)
    app.add_typer(bench_app, name="bench")
