"""The HTTP API reference, from the service's OpenAPI document (`riskstream.api.app`)."""

from typing import Any

from riskstream.api.app import create_app
from riskstream.docs_gen.markdown import banner, code, slug, table, text

PATH = "docs/reference/http-api.md"
_REF = "#/components/schemas/"

INTRO = """\
# HTTP API reference

Every operation of the service's OpenAPI document (`GET /openapi.json` on a running
service; built by `riskstream/api/`), with its parameters, body and answers, then the
shapes of the bodies. [The HTTP service](http.md) explains logins, the live feed,
errors and the routes that are not in the document (`/healthz`, `/readyz`, `/metrics`,
the dashboard).

Every `/api` route but `POST /api/token` needs `Authorization: Bearer TOKEN`; the live
feed also takes `?access_token=TOKEN`. Times are epoch seconds of event time.
"""


def schema_type(schema: dict[str, Any]) -> str:
    """A JSON schema as a short type, linking named schemas to their section."""
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(_REF)
        return f"[{code(name)}](#{slug(name)})"
    if "anyOf" in schema:
        return " or ".join(schema_type(s) for s in schema["anyOf"])
    if "const" in schema:
        return code(schema["const"])
    if "enum" in schema:
        return "one of " + ", ".join(code(v) for v in schema["enum"])
    kind = schema.get("type")
    if kind == "array":
        items = schema.get("items")
        if "prefixItems" in schema:
            return "[" + ", ".join(schema_type(s) for s in schema["prefixItems"]) + "]"
        return f"array of {schema_type(items)}" if items else "array"
    if kind == "object":
        values = schema.get("additionalProperties")
        if isinstance(values, dict) and values:
            return f"object of {schema_type(values)}"
        return "object"
    if kind is None:
        return "any"
    shown = str(kind)
    if "format" in schema:
        shown += f" ({schema['format']})"
    return shown


def constraints(schema: dict[str, Any]) -> str:
    """Bounds and patterns of a schema (looking through ``anyOf`` with null)."""
    for option in schema.get("anyOf", []):
        if option.get("type") != "null":
            schema = {**option, **{k: v for k, v in schema.items() if k != "anyOf"}}
    marks = {
        "minimum": "≥",
        "exclusiveMinimum": ">",
        "maximum": "≤",
        "exclusiveMaximum": "<",
    }
    parts = [f"{mark} {schema[key]}" for key, mark in marks.items() if key in schema]
    if "minLength" in schema:
        least = schema["minLength"]
        parts.append("not empty" if least == 1 else f"at least {least} characters")
    if "maxLength" in schema:
        parts.append(f"at most {schema['maxLength']} characters")
    if "pattern" in schema:
        parts.append(f"matches {code(schema['pattern'])}")
    return ", ".join(parts)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema:
        return ""
    value = schema["default"]
    return code(
        "null" if value is None else str(value).lower() if isinstance(value, bool) else value
    )


def _rules(schema: dict[str, Any], required: bool) -> str:
    """Required or its default, then its bounds: ``required; ≥ 1, ≤ 1000``."""
    default = _default(schema)
    parts = ["required" if required else f"default {default}" if default else "optional"]
    bounds = constraints(schema)
    if bounds:
        parts.append(bounds)
    return "; ".join(parts)


def _parameters(operation: dict[str, Any]) -> str | None:
    rows = []
    for param in operation.get("parameters", []):
        schema = param.get("schema", {})
        rows.append(
            [
                code(param["name"]),
                param["in"],
                schema_type(schema),
                _rules(schema, bool(param.get("required"))),
                text(param.get("description") or schema.get("description") or ""),
            ]
        )
    if not rows:
        return None
    return table(["parameter", "in", "type", "rules", "meaning"], rows)


def _body(operation: dict[str, Any]) -> str | None:
    body = operation.get("requestBody")
    if body is None:
        return None
    kinds = [
        f"{code(media)}: {schema_type(content.get('schema', {}))}"
        for media, content in body.get("content", {}).items()
    ]
    needed = "required" if body.get("required") else "optional"
    return f"Body ({needed}): " + "; ".join(kinds) + "."


def _responses(operation: dict[str, Any]) -> str:
    rows = []
    for status, answer in sorted(operation.get("responses", {}).items()):
        shapes = [
            f"{schema_type(content['schema'])}"
            for content in answer.get("content", {}).values()
            if content.get("schema")
        ]
        rows.append([code(status), text(answer.get("description", "")), ", ".join(shapes)])
    return table(["status", "when", "body"], rows)


def _operation(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    out = [f"### `{method.upper()} {path}`"]
    about = operation.get("description") or operation.get("summary") or ""
    out += [text(p) for p in about.split("\n\n") if p.strip()]
    out += [part for part in (_parameters(operation), _body(operation)) if part]
    out.append(_responses(operation))
    return out


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    out = [f"### {code(name)}"]
    if schema.get("description"):
        out.append(text(schema["description"]))
    required = set(schema.get("required", []))
    rows = []
    for field, spec in schema.get("properties", {}).items():
        rows.append(
            [
                code(field),
                schema_type(spec),
                _rules(spec, field in required),
                text(spec.get("description", "")),
            ]
        )
    if rows:
        out.append(table(["field", "type", "rules", "meaning"], rows))
    return out


def render() -> str:
    """The whole page."""
    document = create_app().openapi()
    parts = [banner("the service's OpenAPI document (riskstream/api/)"), INTRO.strip()]
    parts.append(f"OpenAPI {document['openapi']}, API version {document['info']['version']}.")
    parts.append("## Operations")
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            parts += _operation(path, method, operation)
    parts.append("## Schemas")
    for name, schema in document.get("components", {}).get("schemas", {}).items():
        parts += _schema(name, schema)
    return "\n\n".join(parts) + "\n"
