"""The service settings reference, from `riskstream.service.settings.ServiceSettings` and
the options of `riskstream serve`."""

import typer
from typer import _click as click

from riskstream.cli import build_app
from riskstream.docs_gen.fields import (
    SECONDS,
    constraints,
    default_of,
    is_duration,
    toml,
    type_name,
)
from riskstream.docs_gen.markdown import banner, code, table, text
from riskstream.service.settings import ServiceSettings

PATH = "docs/reference/settings.md"
FLAG_FIELDS = {"db": "database", "retention": "retention_s"}
"""`riskstream serve` options whose name is not their setting's."""

INTRO = """\
# Service settings

Everything `riskstream serve` and `riskstream demo` run on, from
`riskstream/service/settings.py`. Each setting can be given in the environment as
`RISKSTREAM_` and its name in capitals (`RISKSTREAM_CHECKPOINT_EVERY_S=60`); a value
that does not fit stops the start with a message naming the setting. Where
`riskstream serve` has an option for a setting (last column), the option decides and
the environment variable is not read. Seconds are plain numbers here.

Other variables are read by single commands: `RISKSTREAM_MQTT_PASSWORD`
(`riskstream ingest --username`), `RISKSTREAM_NEW_PASSWORD` (`riskstream users add`
and `passwd`) and `INFLUXDB_TOKEN` (InfluxDB and VictoriaMetrics stores); see
[TLS and broker logins](../operations/tls.md), [People and access](../operations/access.md)
and [Stores](../operations/stores.md).
"""


def _serve_flags() -> dict[str, str]:
    """Setting name → the `riskstream serve` option that sets it."""
    root = typer.main.get_command(build_app())
    ctx = click.Context(root, info_name="riskstream")
    serve = root.get_command(ctx, "serve")  # type: ignore[attr-defined]
    flags = {}
    for param in serve.params:
        if param.param_type_name == "option" and param.name != "help":
            flags[FLAG_FIELDS.get(param.name, param.name)] = param.opts[0]
    return flags


def render() -> str:
    """The whole page."""
    flags = _serve_flags()
    rows = []
    for name, info in ServiceSettings.model_fields.items():
        value = default_of(info)
        shown = toml(value, SECONDS if is_duration(info) else info.annotation)
        rows.append(
            [
                code(f"RISKSTREAM_{name.upper()}"),
                type_name(info.annotation),
                code(shown) if value is not None else shown,
                constraints(info),
                text(info.description or ""),
                code(flags[name]) if name in flags else "",
            ]
        )
    parts = [banner("riskstream/service/settings.py"), INTRO.strip()]
    parts.append(table(["variable", "type", "default", "allowed", "meaning", "serve option"], rows))
    return "\n\n".join(parts) + "\n"
