"""Security headers on every answer and bounded request bodies (`riskstream.api.http_guard`),
in process and through uvicorn for the live feed, which must keep streaming."""

import asyncio
import json
import re
from collections.abc import Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from starlette.types import Message, Receive, Scope, Send

import riskstream.api.app
from riskstream.api.app import STATIC, create_app
from riskstream.api.http_guard import STRICT_CSP, HttpGuard
from riskstream.api.rules import MAX_TEXT
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.people import register_people
from tests.riskstream.test_api_access import alert, login
from tests.servers import app_serving

LIMIT = 4096


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    db = tmp_path / "rs.db"
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None, max_body_bytes=LIMIT))
    runtime.publish([alert("bank-a", "b1"), alert("bank-a", "b2")])
    return runtime


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with TestClient(create_app(runtime)) as client:
        yield client


def assert_guarded(response: httpx.Response, csp: str = STRICT_CSP) -> None:
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["content-security-policy"] == csp


def test_every_answer_carries_the_security_headers(client: TestClient) -> None:
    rita = login(client, "rita", "rita-password")
    answers = {
        "/": 200,
        "/static/app.js": 200,
        "/static/nope.js": 404,
        "/healthz": 200,
        "/metrics": 200,
        "/openapi.json": 200,
        "/api/alerts": 401,
        "/api/alerts/stream?after=-1": 422,
        "/api/alerts/none": 404,
    }
    for path, status in answers.items():
        response = client.get(path, headers=rita if path.startswith("/api/alerts/") else {})
        assert response.status_code == status, path
        assert_guarded(response)
    assert_guarded(client.get("/api/alerts", headers=rita))
    assert_guarded(client.post("/api/token", content=b"x" * (LIMIT + 1)))
    for docs in ("/docs", "/redoc"):  # off: they would load Swagger UI from a CDN
        answer = client.get(docs)
        assert answer.status_code == 404
        assert_guarded(answer)


def test_the_dashboard_policy_is_strict() -> None:
    directives = dict(d.split(" ", 1) for d in STRICT_CSP.split("; "))
    assert directives["default-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["script-src"] == "'self'" and directives["style-src"] == "'self'"
    assert "unsafe" not in STRICT_CSP


def test_the_dashboard_has_no_inline_script_style_or_handler() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    assert all("src=" in tag for tag in re.findall(r"<script[^>]*>", html))
    assert not re.search(r"<style|\sstyle=|\son[a-z]+=|javascript:", html, re.IGNORECASE)
    for script in STATIC.glob("*.js"):
        code = script.read_text(encoding="utf-8")
        assert not re.search(r"\beval\(|new Function\(|setAttribute\(\"(style|on)", code), script


def test_a_declared_body_over_the_bound_gets_413_before_it_is_read() -> None:
    reads = 0
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        raise AssertionError("the app must not run")

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 100, "more_body": True}

    async def send(message: Message) -> None:
        sent.append(message)

    for length, status in ((b"200000000", 413), (b"9" * 50, 413), (b"12x", 400), (b"", 400)):
        sent.clear()
        scope = {"type": "http", "path": "/api/rules", "headers": [(b"content-length", length)]}
        asyncio.run(HttpGuard(app, 1000)(scope, receive, send))
        assert sent[0]["status"] == status
        assert (b"connection", b"close") in sent[0]["headers"]
        assert (b"x-content-type-options", b"nosniff") in sent[0]["headers"]
    assert reads == 0


def test_a_streamed_body_is_counted_and_cut_at_the_bound() -> None:
    reads = 0
    sent: list[Message] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        while (await receive()).get("more_body"):
            pass
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"read it all"})

    async def receive() -> Message:
        nonlocal reads
        reads += 1
        return {"type": "http.request", "body": b"x" * 100, "more_body": reads < 100}

    async def send(message: Message) -> None:
        sent.append(message)

    scope = {"type": "http", "path": "/api/rules", "headers": []}  # chunked: no length
    asyncio.run(HttpGuard(app, 1000)(scope, receive, send))
    assert reads == 11  # 1,100 bytes: over the bound; the other 8,900 are never read
    assert [m["type"] for m in sent] == ["http.response.start", "http.response.body"]
    assert sent[0]["status"] == 413
    assert b"max_body_bytes" in sent[1]["body"]


def test_the_app_answers_413_to_a_long_or_chunked_body(client: TestClient) -> None:
    rita = login(client, "rita", "rita-password")
    long = {"text": "x" * LIMIT}
    response = client.post("/api/rules/dry-run", json=long, headers=rita)
    assert response.status_code == 413
    assert response.json() == {
        "detail": f"request body over {LIMIT} bytes (setting max_body_bytes)"
    }

    def chunks() -> Iterator[bytes]:
        yield b'{"text": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    chunked = client.post(
        "/api/rules/dry-run",
        content=chunks(),
        headers={**rita, "content-type": "application/json"},
    )
    assert chunked.status_code == 413
    assert_guarded(chunked)
    assert client.post("/api/rules/dry-run", json={"text": "x"}, headers=rita).status_code == 400


def test_the_default_bound_takes_a_full_rules_text(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    register_people(db)
    runtime = Runtime(ServiceSettings(database=str(db), deadletter=None))
    assert runtime.settings.max_body_bytes == 2 * 1024 * 1024
    text = "# " + "rules\n" * ((MAX_TEXT - 2) // 6)
    body = json.dumps({"text": text[:MAX_TEXT]})
    assert len(body.encode()) < runtime.settings.max_body_bytes
    with TestClient(create_app(runtime)) as client:
        rita = login(client, "rita", "rita-password")
        json_body = {**rita, "content-type": "application/json"}
        response = client.put("/api/rules", content=body, headers=json_body)
        assert response.status_code in (400, 409)  # refused as rules (not TOML), not 413


def uvicorn_serving(runtime: Runtime) -> AbstractAsyncContextManager[str]:
    return app_serving(create_app(runtime))


async def first_event_id(client: httpx.AsyncClient, url: str, headers: dict[str, str]) -> str:
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        assert_guarded(response)
        async for line in response.aiter_lines():
            if line.startswith("id:"):
                return line.removeprefix("id:").strip()
    raise AssertionError("the stream ended without an event")


async def test_the_live_feed_streams_through_the_guard(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(riskstream.api.app, "STREAM_WAIT_S", 0.05)
    async with uvicorn_serving(runtime) as base, httpx.AsyncClient(base_url=base) as client:
        token = (
            await client.post("/api/token", data={"username": "rita", "password": "rita-password"})
        ).json()["access_token"]
        stream = f"/api/alerts/stream?access_token={token}"
        assert await asyncio.wait_for(first_event_id(client, stream + "&after=0", {}), 10) == "1"
        resumed = first_event_id(client, stream, {"Last-Event-ID": "1"})
        assert await asyncio.wait_for(resumed, 10) == "2"


async def test_a_200_mb_upload_is_refused_at_its_headers(runtime: Runtime) -> None:
    async with uvicorn_serving(runtime) as base:
        host, port = base.removeprefix("http://").split(":")
        reader, writer = await asyncio.open_connection(host, int(port))
        writer.write(
            b"PUT /api/rules HTTP/1.1\r\nHost: rs\r\nContent-Type: application/json\r\n"
            b"Content-Length: 209715200\r\n\r\n" + b'{"text": "' + b"x" * 1000
        )
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)  # 200 MB never sent
        writer.close()
        assert head.startswith(b"HTTP/1.1 413 ")
        assert b"connection: close" in head.lower()


def test_metrics_need_the_scrape_token_when_one_is_set(tmp_path: Path) -> None:
    db = tmp_path / "rs.db"
    register_people(db)
    token = "scrape-token-0123456789"
    settings = ServiceSettings(database=str(db), deadletter=None, metrics_token=token)
    with TestClient(create_app(Runtime(settings))) as client:
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", headers={"Authorization": "Bearer scrape-token-x"})
        assert wrong.status_code == 401
        rita = login(client, "rita", "rita-password")  # a user's token is not a scrape token
        assert client.get("/metrics", headers=rita).status_code == 401
        scraped = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and "ingest_received_total" in scraped.text
