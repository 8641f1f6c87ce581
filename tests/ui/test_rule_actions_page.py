"""The rules page's actions builder over TestClient: its row template offers every action type the engine
accepts, each field picks from the store's known values (groups, staff, approvers, priorities, webhooks),
every control has a label, and the form still posts one JSON `actions` field (the API's own shape)."""

from __future__ import annotations

from html.parser import HTMLParser

from itsm_ai.workflow.actions import ACTIONS
from tests.api.conftest import API
from tests.ui.conftest import login

CONTROLS = ("input", "select", "textarea")


class _Controls(HTMLParser):
    """Collects the controls, label targets and options inside <template id="action-row">."""

    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.in_label = 0
        self.controls: list[dict[str, str | None]] = []
        self.label_for: set[str] = set()
        self.wrapped: set[str] = set()
        self.options: list[str] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "template" and a.get("id") == "action-row":
            self.inside = True
        if not self.inside:
            return
        if tag == "label":
            self.in_label += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        if tag in CONTROLS:
            self.controls.append(a)
            if self.in_label and a.get("id"):
                self.wrapped.add(a["id"])
        if tag == "option":
            self.options.append(a.get("value") or "")

    def handle_endtag(self, tag):
        if tag == "template":
            self.inside = False
        if tag == "label" and self.in_label:
            self.in_label -= 1


def _page(client, users, make) -> str:
    make.group(name="Network Ops", members=["agent"])
    r = client.post(
        f"{API}/webhooks",
        json={
            "name": "Chat ops",
            "url": "https://hooks.example.com/itsm",
            "event_types": ["incident.created"],
        },
        headers=users["admin"].headers,
    )
    assert r.status_code == 201, r.text
    login(client, "admin")
    response = client.get("/console/rules")
    assert response.status_code == 200, response.text
    return response.text


def test_builder_offers_every_action_type_with_known_values(client, users, make):
    page = _page(client, users, make)
    parser = _Controls()
    parser.feed(page)
    assert parser.controls, "the action-row template is missing"
    for action_type in ACTIONS:
        assert action_type in parser.options, action_type
        assert f'data-fields="{action_type}"' in page, action_type
    # Known values: the group (also as an approver), staff to assign, approvers, priority levels, methods.
    assert "Network Ops" in page and "group:Network Ops" in parser.options and "user:admin" in parser.options
    assert "<option>agent</option>" in page
    assert {"1", "2", "3"} <= set(parser.options) and 'data-when-field="urgency"' in page
    assert {"internal", "public"} <= set(parser.options)
    assert '<option value="https://hooks.example.com/itsm">' in page
    # The form's one JSON field is what the builder fills; its controls carry no name of their own.
    assert '<input type="hidden" id="nr-actions" name="actions" data-type="json">' in page
    assert all("name" not in c for c in parser.controls)
    assert "Actions (JSON list)" not in page
    assert '<script src="/static/rule_actions.js" defer></script>' in page
    assert 'id="add-action"' in page


def test_every_builder_control_has_a_label(client, users, make):
    parser = _Controls()
    parser.feed(_page(client, users, make))
    for control in parser.controls:
        ident = control.get("id")
        assert ident and "__N__" in ident, control
        assert ident in parser.label_for or ident in parser.wrapped, f"{ident} has no label"
    ids = [c["id"] for c in parser.controls]
    assert len(ids) == len(set(ids)), "duplicate ids in one row"


def test_builder_script_is_served_from_the_app(client, users):
    response = client.get("/static/rule_actions.js")
    assert response.status_code == 200
    assert "nr-actions" in response.text and "JSON.stringify" in response.text


def test_set_field_offers_only_fields_every_rule_type_may_write():
    from itsm_ai.ticket.service import CHANGE, INCIDENT, PROBLEM, SERVICE_REQUEST
    from itsm_ai.ui.admin import SET_FIELDS

    for spec in (INCIDENT, SERVICE_REQUEST, PROBLEM, CHANGE):
        assert set(SET_FIELDS) <= set(spec.update_schema.model_fields), spec.noun
