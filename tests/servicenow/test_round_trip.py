"""Round trip with pysnc: read everything out of one instance through the Table API, write it into a fresh
instance (a second `itsm-ai serve --ssl-certfile/--ssl-keyfile` process on its own database), and compare."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import PASSWORD
from tests.servicenow.conftest import _free_port

pytestmark = pytest.mark.slow
ITSM = str(Path(sys.executable).with_name("itsm-ai"))


@pytest.fixture
def fresh_instance(tls, tmp_path) -> str:
    """A second itsm-ai, served over HTTPS by the CLI on an empty SQLite database with one admin."""
    _ca, cert, key = tls
    env = dict(
        os.environ,
        ITSM_DATABASE_URL=f"sqlite:///{tmp_path / 'fresh.db'}",
        ITSM_DATA_DIR=str(tmp_path / "var"),
        ITSM_WORKER_IN_PROCESS="false",
    )
    created = subprocess.run(
        [ITSM, "users", "create", "--username", "admin", "--role", "admin", "--password", PASSWORD],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert created.returncode == 0, created.stdout + created.stderr
    port = _free_port()
    args = ["serve", "--port", str(port), "--ssl-certfile", str(cert), "--ssl-keyfile", str(key)]
    server = subprocess.Popen([ITSM, *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    url = f"https://127.0.0.1:{port}"
    trusted = ssl.create_default_context(cafile=str(tls[0]))
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                if httpx.get(f"{url}/health", verify=trusted, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, server.stderr.read().decode()
            assert time.monotonic() < deadline, "the second instance did not start"
            time.sleep(0.5)
        yield url
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


def _rows(client, table: str, fields: str | None = None) -> list[dict[str, str]]:
    gr = client.GlideRecord(table)
    gr.display_value = False
    gr.order_by("sys_id")
    gr.query()
    return [{k: gr.get_value(k) for k in gr.serialize()} for _ in gr]


def test_read_everything_out_and_into_a_fresh_instance(snc, fresh_instance, tls):
    import pysnc

    source = snc("admin")
    # Some content in the source: a group, a user, incidents with references, a problem, comments.
    group = source.GlideRecord("sys_user_group")
    group.initialize()
    group.name, group.description, group.manager = "Network", "WAN and VPN", "agent"
    group.insert()
    for title, impact, caller in (
        ("vpn down", 1, "requester"),
        ("printer jam", 3, "requester2"),
        ("dns", 2, ""),
    ):
        gr = source.GlideRecord("incident")
        gr.initialize()
        gr.short_description, gr.impact, gr.urgency = title, impact, 2
        gr.assignment_group, gr.assigned_to, gr.category = "Network", "agent", "network"
        if caller:
            gr.caller_id = caller
        gr.comments = f"first reply on {title}"
        gr.insert()
    problem = source.GlideRecord("problem")
    problem.initialize()
    problem.short_description, problem.workaround = "flaky VPN concentrator", "restart it"
    problem.insert()

    target = pysnc.ServiceNowClient(fresh_instance, ("admin", PASSWORD), verify=str(tls[0]))
    mapped: dict[str, str] = {}  # source sys_id -> target sys_id, for the references

    def copy(table: str, fields: tuple[str, ...], references: tuple[str, ...] = (), extra=None) -> None:
        for row in _rows(source, table):
            existing = target.GlideRecord(table)
            if table == "sys_user" and existing.get("user_name", row["user_name"]):
                mapped[row["sys_id"]] = existing.sys_id.get_value()  # the fresh instance's own admin
                continue
            gr = target.GlideRecord(table)
            gr.initialize()
            for name in fields:
                gr.set_value(name, row[name])
            for name in references:
                if row[name]:
                    gr.set_value(name, mapped[row[name]])
            for name, value in (extra(row) if extra else {}).items():
                gr.set_value(name, value)
            mapped[row["sys_id"]] = str(gr.insert())

    copy(
        "sys_user",
        ("user_name", "name", "email", "roles", "active"),
        extra=lambda r: {"user_password": PASSWORD},
    )
    copy("sys_user_group", ("name", "description", "email", "active"), ("manager",))
    copy("problem", ("short_description", "description", "state", "impact", "urgency", "workaround"))
    copy(
        "incident",
        ("short_description", "description", "state", "impact", "urgency", "category", "close_code"),
        ("assignment_group", "assigned_to", "caller_id", "problem_id"),
    )
    for entry in _rows(source, "sys_journal_field"):
        note = target.GlideRecord("sys_journal_field")
        note.initialize()
        note.element, note.value, note.element_id = (
            entry["element"],
            entry["value"],
            mapped[entry["element_id"]],
        )
        note.insert()

    def comparable(client, table: str) -> list[dict[str, str]]:
        out = []
        for row in _rows(client, table):
            out.append(
                {
                    k: v
                    for k, v in row.items()
                    if not k.startswith("sys_") and k not in ("number", "opened_at")
                }
            )
        return out

    inverse = {v: k for k, v in mapped.items()}
    for table in ("sys_user", "sys_user_group", "problem", "incident"):
        expected = comparable(source, table)
        copied = [{k: inverse.get(v, v) for k, v in row.items()} for row in comparable(target, table)]
        assert copied == expected, table
    notes = [(n["element"], n["value"], inverse[n["element_id"]]) for n in _rows(target, "sys_journal_field")]
    assert notes == [(n["element"], n["value"], n["element_id"]) for n in _rows(source, "sys_journal_field")]


def test_serve_needs_both_tls_files():
    from typer.testing import CliRunner

    from itsm_ai.cli import app

    result = CliRunner().invoke(app, ["serve", "--ssl-certfile", "cert.pem"])
    assert result.exit_code == 2
    assert "--ssl-keyfile" in result.output
