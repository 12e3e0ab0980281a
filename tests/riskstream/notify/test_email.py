"""E-mail notifications through a real SMTP server on loopback (aiosmtpd): a mail per
change with its reasons and a link to the borrower's page, a digest at most once per
period with the changes in between, a login, retries when the server is away, and
nothing of one lender in another's mail. The mail outbox runs on a fake clock."""

from pathlib import Path

from riskstream.service.local_broker import free_port
from riskstream.service.runtime import Runtime
from riskstream.service.settings import ServiceSettings
from tests.riskstream.notify.smtp_server import self_signed, smtp_server
from tests.riskstream.notify.test_webhooks import T0, WEBHOOK_KEY, FakeClock, as_user, warning
from tests.riskstream.people import register_people
from tests.riskstream.rules_service import client_of
from tests.riskstream.test_api_access import alert

DASHBOARD = "https://risk.platform.example"


def mail_runtime(
    tmp_path: Path, port: int, db: str | None = None, ca_file: Path | None = None
) -> tuple[Runtime, FakeClock]:
    db = db or str(tmp_path / "rs.db")
    register_people(db)  # type: ignore[arg-type]
    runtime = Runtime(
        ServiceSettings(
            database=db,
            deadletter=None,
            checkpoint_enabled=False,
            webhook_key=WEBHOOK_KEY,  # a database server has no directory for the key file
            spool_dir=tmp_path / "spool",
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_starttls=ca_file is not None,
            smtp_ca_file=ca_file,
            smtp_username="riskstream",
            smtp_password="relay-secret",  # type: ignore[arg-type]
            smtp_from="alerts@riskstream.example",
            dashboard_url=DASHBOARD,
            webhook_max_attempts=2,
        )
    )
    clock = FakeClock()
    runtime.notify.mail_outbox.clock = clock
    return runtime, clock


async def test_mails_and_digests_reach_each_lenders_recipients(
    service_db: str, tmp_path: Path
) -> None:
    with smtp_server("riskstream", "relay-secret") as mailbox:
        runtime, clock = mail_runtime(tmp_path, mailbox.port, service_db)
        async with client_of(runtime) as client:
            rita, bob = await as_user(client, "rita"), await as_user(client, "bob")
            anna = await as_user(client, "anna")
            add = "/api/notifications/email"
            officer = {"address": "officer@bank-a.example", "filters": {"severities": ["critical"]}}
            digest = {"address": "risk-desk@bank-a.example", "digest_minutes": 15}
            assert (await client.post(add, json=officer, **anna)).status_code == 403
            for body in (officer, digest):
                assert (await client.post(add, json=body, **rita)).status_code == 201
            theirs = {"address": "desk@bank-b.example"}
            assert (await client.post(add, json=theirs, **bob)).status_code == 201
            bad = {"address": "x@y.example\r\nBcc: all@evil.example"}
            assert (await client.post(add, json=bad, **rita)).status_code == 422
            assert [r["address"] for r in (await client.get(add, **anna)).json()] == [
                "officer@bank-a.example",
                "risk-desk@bank-a.example",
            ]

            await runtime.notify.mail_outbox.step()  # starts at the newest change
            runtime.publish([alert("bank-a", "b1")])
            await runtime.notify.mail_outbox.step()
            [first] = mailbox.to("officer@bank-a.example")
            assert first["From"] == "alerts@riskstream.example"
            assert first["Subject"] == (
                "[riskstream] critical inventory_below_pledge opened: borrower b1"
            )
            text = first.get_content()
            assert "  - inventory low" in text  # the alert's reasons
            link = f"{DASHBOARD}/#/borrower/b1?alert=bank-a-b1-inventory_below_pledge"
            assert link in text
            assert len(mailbox.to("risk-desk@bank-a.example")) == 1  # first of its period
            assert mailbox.logins and set(mailbox.logins) == {"riskstream"}

            runtime.publish(
                [alert("bank-a", "b2"), warning(alert("bank-a", "b1", "device_silent"))]
            )
            runtime.publish([alert("bank-b", "x9")])
            clock.now += 60
            await runtime.notify.mail_outbox.step()
            officer_mail = mailbox.to("officer@bank-a.example")
            assert [m["Subject"].split(": borrower ")[1] for m in officer_mail] == ["b1", "b2"]
            assert len(mailbox.to("risk-desk@bank-a.example")) == 1  # waits for its period
            clock.now = T0 + 15 * 60
            await runtime.notify.mail_outbox.step()
            desk = mailbox.to("risk-desk@bank-a.example")
            assert len(desk) == 2
            assert desk[1]["Subject"] == "[riskstream] 2 alert changes at bank-a (1 critical)"
            assert desk[1]["X-Riskstream-Changes"] == "2"
            assert f"{DASHBOARD}/#/borrower/b2?" in desk[1].get_content()
            assert "device_silent" in desk[1].get_content()
            bank_b = mailbox.to("desk@bank-b.example")
            assert len(bank_b) == 1 and "bank-a" not in bank_b[0].get_content()
            assert all("bank-b" not in m.get_content() for m in mailbox.messages if m not in bank_b)

            queue = (await client.get("/api/notifications/email-queue", **rita)).json()
            assert {q["state"] for q in queue} == {"sent"} and len(queue) == 5
            assert (await client.get("/api/notifications/email-queue", **anna)).status_code == 403
            assert all(
                q["alert_id"].startswith("bank-b")
                for q in (await client.get("/api/notifications/email-queue", **bob)).json()
            )
            actions = {e["action"] for e in runtime.audit.entries(tenant="bank-a")}
            assert "email_recipient_create" in actions
        runtime.db.dispose()


async def test_a_mail_that_cannot_be_sent_is_retried_then_dead(tmp_path: Path) -> None:
    runtime, clock = mail_runtime(tmp_path, free_port())  # nothing listens there
    async with client_of(runtime) as client:
        rita = await as_user(client, "rita")
        body = {"address": "officer@bank-a.example"}
        assert (await client.post("/api/notifications/email", json=body, **rita)).status_code == 201
        await runtime.notify.mail_outbox.step()
        runtime.publish([alert("bank-a", "b1")])
        await runtime.notify.mail_outbox.step()
        [queued] = (await client.get("/api/notifications/email-queue", **rita)).json()
        assert (queued["state"], queued["attempts"]) == ("pending", 1)
        assert "ConnectionRefusedError" in queued["last_error"]
        clock.now += 3600
        await runtime.notify.mail_outbox.step()
        [queued] = (await client.get("/api/notifications/email-queue", **rita)).json()
        assert (queued["state"], queued["attempts"]) == ("dead", 2)
    runtime.db.dispose()


async def test_starttls_checks_the_servers_certificate_before_the_login(tmp_path: Path) -> None:
    cert, context = self_signed(tmp_path)
    with smtp_server("riskstream", "relay-secret", tls=context) as mailbox:
        for name in ("trusted", "unknown"):
            where = tmp_path / name
            where.mkdir()
            # "unknown": a CA that did not sign the server's certificate
            ca_file = cert if name == "trusted" else self_signed(where)[0]
            runtime, _ = mail_runtime(where, mailbox.port, ca_file=ca_file)
            async with client_of(runtime) as client:
                rita = await as_user(client, "rita")
                body = {"address": f"{name}@bank-a.example"}
                await client.post("/api/notifications/email", json=body, **rita)
                await runtime.notify.mail_outbox.step()
                runtime.publish([alert("bank-a", f"b-{name}")])
                await runtime.notify.mail_outbox.step()
                queue = (await client.get("/api/notifications/email-queue", **rita)).json()
            runtime.db.dispose()
            if name == "trusted":
                assert [q["state"] for q in queue] == ["sent"]
            else:
                assert [q["state"] for q in queue] == ["pending"]
                assert "CERTIFICATE_VERIFY_FAILED" in queue[0]["last_error"]
    assert [m["To"] for m in mailbox.messages] == ["trusted@bank-a.example"]
    assert mailbox.logins == ["riskstream"]  # the login went over TLS, once
