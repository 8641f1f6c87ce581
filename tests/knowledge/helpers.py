"""Helpers for store-backed knowledge tests: create and resolve tickets, publish articles."""

from __future__ import annotations

from typing import Any

API = "/api/v1"

PRINTER = (
    "Printer not printing, jobs stuck in queue",
    "Print jobs stay in the queue and nothing comes out of the printer on floor 3.",
    "Restarted the print spooler service and cleared the stuck print queue.",
)
VPN = (
    "VPN connection drops every few minutes",
    "The VPN client disconnects repeatedly when working from home.",
    "Updated the VPN client and switched the tunnel protocol to IKEv2.",
)
OUTLOOK = (
    "Outlook cannot connect to the mail server",
    "Outlook keeps asking for a password and shows disconnected from the Exchange mail server.",
    "Rebuilt the Outlook profile and cleared cached credentials from the credential manager.",
)


def service_incident(session, short: str, description: str = "", **fields: Any):
    """Create an incident through the store service (listeners run) and commit."""
    from itsm_ai.records import service as records
    from itsm_ai.ticket.service import INCIDENT

    obj = records.create(
        db_session=session,
        spec=INCIDENT,
        data=INCIDENT.create_schema(short_description=short, description=description, **fields).model_dump(),
        actor=None,
    )
    session.commit()
    return obj


def service_update(session, obj, **fields: Any):
    """Update a record through the store service and commit."""
    from itsm_ai.records import service as records
    from itsm_ai.ticket.service import INCIDENT

    spec = fields.pop("spec", INCIDENT)
    obj = records.update(
        db_session=session,
        spec=spec,
        obj=obj,
        data=spec.update_schema(version=obj.version, **fields).model_dump(exclude_unset=True),
        actor=None,
    )
    session.commit()
    return obj


def service_resolve(session, obj, notes: str):
    """Resolve an incident with resolution notes."""
    return service_update(session, obj, state="resolved", resolution_code="solved", resolution_notes=notes)


def api_incident(client, headers, short: str, description: str = "", **fields: Any) -> dict[str, Any]:
    """Create an incident over the API (201)."""
    r = client.post(
        f"{API}/incidents",
        headers=headers,
        json={"short_description": short, "description": description, **fields},
    )
    assert r.status_code == 201, r.text
    return r.json()


def api_patch(client, headers, path: str, body: dict[str, Any]) -> dict[str, Any]:
    """PATCH a record over the API, reading its version first (200)."""
    current = client.get(f"{API}/{path}", headers=headers)
    assert current.status_code == 200, current.text
    r = client.patch(f"{API}/{path}", headers=headers, json={"version": current.json()["version"], **body})
    assert r.status_code == 200, r.text
    return r.json()


def api_resolve(client, headers, number: str, notes: str) -> dict[str, Any]:
    """Resolve an incident over the API."""
    return api_patch(
        client,
        headers,
        f"incidents/{number}",
        {"state": "resolved", "resolution_code": "solved", "resolution_notes": notes},
    )


def api_resolved(client, headers, triple: tuple[str, str, str], **fields: Any) -> dict[str, Any]:
    """Create and resolve one incident from a (short description, description, fix) triple."""
    inc = api_incident(client, headers, triple[0], triple[1], **fields)
    return api_resolve(client, headers, inc["number"], triple[2])


def api_article(client, headers, title: str, text: str, *, publish: bool = True, **fields: Any) -> dict:
    """Create an article over the API and take it through review to published."""
    r = client.post(
        f"{API}/knowledge", headers=headers, json={"short_description": title, "text": text, **fields}
    )
    assert r.status_code == 201, r.text
    art = r.json()
    if publish:
        api_patch(client, headers, f"knowledge/{art['number']}", {"state": "review"})
        art = api_patch(client, headers, f"knowledge/{art['number']}", {"state": "published"})
    return art


def similar(client, headers, text: str, **body: Any):
    """POST /similar; returns the response."""
    return client.post(f"{API}/similar", headers=headers, json={"text": text, **body})
