"""POST /chat flows end to end over the API with real records; privacy, persistence and bad input."""

from __future__ import annotations

import pytest

from tests.api.conftest import API, assert_error


def _admin(client, users, method, path, **kw):
    r = client.request(method, f"{API}{path}", headers=users["admin"].headers, **kw)
    assert r.status_code in (200, 201), r.text
    return r.json()


def _publish_article(client, users, title, text):
    art = _admin(client, users, "POST", "/knowledge", json={"short_description": title, "text": text})
    v = _admin(
        client, users, "PATCH", f"/knowledge/{art['id']}", json={"version": art["version"], "state": "review"}
    )
    _admin(
        client,
        users,
        "PATCH",
        f"/knowledge/{art['id']}",
        json={"version": v["version"], "state": "published"},
    )
    return art["number"]


def _resolved_incident(client, users, short, fix, *, shareable=True, caller="requester2"):
    inc = _admin(client, users, "POST", "/incidents", json={"short_description": short, "caller": caller})
    _admin(
        client,
        users,
        "PATCH",
        f"/incidents/{inc['number']}",
        json={
            "version": inc["version"],
            "state": "resolved",
            "resolution_code": "solved",
            "resolution_notes": fix,
            "fix_shareable": shareable,
        },
    )
    return inc["number"]


@pytest.fixture
def knowledge(client, users, retrieval):
    kb = _publish_article(
        client, users, "Outlook crashes when opening", "Start Outlook in safe mode and disable add-ins."
    )
    inc = _resolved_incident(
        client,
        users,
        "Outlook keeps crashing on start",
        "Repaired the Office installation; Outlook opens again.",
    )
    return {"kb": kb, "incident": inc}


def test_problem_answered_and_deflected(chat, knowledge, client, users):
    out = chat.say("outlook keeps crashing when I open it")
    assert out["intent"] == "report_problem"
    assert out["ask_feedback"] is True
    assert out["state"] == "awaiting_feedback"
    kinds = {a["kind"]: a for a in out["answers"]}
    assert kinds["knowledge_article"]["number"] == knowledge["kb"]
    assert kinds["knowledge_article"]["url"] == f"/api/v1/knowledge/{knowledge['kb']}"
    fix = kinds["ticket_fix"]
    assert "Repaired" in fix["suggested_fix"]
    # A shareable fix of someone else's ticket: no number, no link, not the other requester's title.
    assert fix["number"] is None and fix["url"] is None and "Outlook" not in fix["title"]
    assert knowledge["incident"] not in out["reply"]
    assert {c["value"] for c in out["choices"]} == {"feedback:yes", "feedback:no"}
    done = chat.say("yes")
    assert done["state"] == "deflected" and done["ticket"] is None
    conv = client.get(f"{API}/chat/{chat.conversation_id}", headers=chat.actor.headers).json()
    assert conv["outcome"] == "deflected" and conv["intent"] == "report_problem"
    assert [m["role"] for m in conv["messages"]] == ["user", "bot", "user", "bot"]
    assert conv["messages"][1]["answers"][0]["suggested_fix"]


def test_not_solved_opens_an_incident_with_the_transcript(chat, knowledge, client, users):
    chat.say("outlook keeps crashing when I open it")
    out = chat.pick("feedback:no")
    ticket = out["ticket"]
    assert ticket["number"].startswith("INC") and ticket["record_type"] == "incident"
    assert ticket["number"] in out["reply"]
    assert out["state"] == "ticket_created"
    r = client.get(f"{API}/incidents/{ticket['number']}", headers=users["requester"].headers)
    assert r.status_code == 200, r.text
    inc = r.json()
    assert inc["caller"] == "requester"
    assert inc["short_description"] == "outlook keeps crashing when I open it"
    assert "User: outlook keeps crashing when I open it" in inc["description"]
    assert "Virtual agent: Here is what I found" in inc["description"]
    assert inc["suggestions"] is None  # requesters never see suggestions
    audit = client.get(f"{API}/incidents/{ticket['number']}/audit", headers=users["agent"].headers).json()
    assert audit[0]["action"] == "create"
    listed = client.get(f"{API}/chat", headers=users["requester"].headers).json()["items"]
    assert listed[0]["ticket_number"] == ticket["number"] and listed[0]["outcome"] == "ticket_created"


def test_search_unavailable_offers_a_ticket(chat, client, users, monkeypatch):
    from itsm_ai.knowledge.retrieval import service as retrieval

    def broken(**kwargs):
        raise RuntimeError("index down")

    monkeypatch.setattr(retrieval, "search", broken)
    out = chat.say("my laptop won't turn on")
    assert out["intent"] == "report_problem"
    assert out["answers"] == [] and out["ask_feedback"] is False
    assert "ticket:incident" in {c["value"] for c in out["choices"]}
    done = chat.pick("ticket:incident")
    assert done["ticket"]["number"].startswith("INC")


def test_request_item_offers_catalog_items_and_opens_a_request(chat, client, users):
    laptop = _admin(
        client,
        users,
        "POST",
        "/catalog-items",
        json={"name": "Laptop", "short_description": "Business laptop"},
    )
    _admin(
        client, users, "POST", "/catalog-items", json={"name": "Headset", "short_description": "USB headset"}
    )
    _admin(client, users, "POST", "/catalog-items", json={"name": "Old laptop", "active": False})
    out = chat.say("I need a new laptop")
    assert out["intent"] == "request_item"
    values = [c["value"] for c in out["choices"]]
    assert values[0] == f"item:{laptop['id']}" and "item:none" in values
    assert all("Old laptop" != c["label"] for c in out["choices"])  # inactive items are never offered
    done = chat.pick(f"item:{laptop['id']}")
    assert done["ticket"]["record_type"] == "service_request"
    req = client.get(f"{API}/requests/{done['ticket']['number']}", headers=users["requester"].headers).json()
    assert req["catalog_item"] == "Laptop" and req["caller"] == "requester"


def test_status_lists_only_own_open_tickets_and_public_updates(chat, client, users):
    mine = client.post(
        f"{API}/incidents", json={"short_description": "VPN drops"}, headers=users["requester"].headers
    ).json()
    other = client.post(
        f"{API}/incidents", json={"short_description": "Secret other"}, headers=users["requester2"].headers
    ).json()
    agent = users["agent"].headers
    client.post(f"{API}/incidents/{mine['number']}/comments", json={"body": "We are on it"}, headers=agent)
    client.post(
        f"{API}/incidents/{mine['number']}/comments",
        json={"body": "internal: user is annoying", "visibility": "internal"},
        headers=agent,
    )
    out = chat.say("what's the status of my ticket")
    assert out["intent"] == "check_status"
    numbers = [t["number"] for t in out["tickets"]]
    assert numbers == [mine["number"]]
    assert out["tickets"][0]["latest_public_comment"] == "We are on it"
    assert other["number"] not in out["reply"] and "annoying" not in out["reply"]
    # Naming someone else's ticket does not reveal it either.
    out = chat.say(f"status of {other['number']}")
    assert other["number"] not in [t["number"] for t in out["tickets"]]


def test_talk_to_person_hands_off(chat, client, users):
    out = chat.say("I want to talk to a person")
    assert out["intent"] == "talk_to_person"
    assert out["state"] == "handed_off"
    assert out["ticket"]["number"].startswith("INC")


def test_out_of_scope_offers_a_person_or_a_ticket(chat):
    out = chat.say("what's the weather in paris tomorrow")
    assert out["intent"] == "out_of_scope"
    assert "cannot help" in out["reply"]
    assert {c["value"] for c in out["choices"]} == {"person", "ticket:incident"}
    done = chat.pick("person")
    assert done["state"] == "handed_off"


def test_clarifying_pick_is_confirmed_and_learned(chat, chat_settings, monkeypatch, db_session):
    from sqlalchemy import select

    from itsm_ai.chat import detector
    from itsm_ai.chat.models import Message

    monkeypatch.setattr(chat_settings, "chat_intent_margin", 1.0)  # every decision is "close"
    detector.train(db_session=db_session)  # a changed setting takes effect with the next training
    out = chat.say("I need a new laptop")
    assert out["state"] == "awaiting_choice"
    values = [c["value"] for c in out["choices"]]
    assert len(values) >= 2 and all(v.startswith("intent:") for v in values)
    assert "intent:request_item" in values
    chat.pick("intent:request_item")
    confirmed = db_session.scalars(select(Message).where(Message.confirmed_intent.isnot(None))).all()
    assert [(m.text, m.confirmed_intent) for m in confirmed] == [("I need a new laptop", "request_item")]
    assert ("I need a new laptop", "request_item") in detector.confirmed_examples(db_session=db_session)
    result = detector.train(db_session=db_session)
    assert result["n_learned"] == 1 and result["snapshot"]["confirmed"] == 1


def test_stale_model_is_served_and_retrained_in_the_background(chat, chat_settings, monkeypatch, db_session):
    from itsm_ai.chat import detector
    from itsm_ai.chat.models import Message
    from itsm_ai.registry import store as registry

    first = registry.current_version(detector.MODEL_NAME, models_dir=chat_settings.models_dir)
    chat.say("hello")
    msg = db_session.query(Message).filter_by(role="user").first()
    msg.confirmed_intent = "greeting"
    db_session.commit()
    monkeypatch.setattr(chat_settings, "chat_train_on_startup", True)
    monkeypatch.setattr(chat_settings, "chat_retrain_min_new", 1)
    detector.reset_detector()  # a restart
    served = detector.get_detector(db_session=db_session)  # the saved model at once, not after training
    assert detector._Loaded.version == first
    thread = detector._Loaded.retrain_thread
    assert thread is not None
    thread.join(timeout=300)
    newer = registry.current_version(detector.MODEL_NAME, models_dir=chat_settings.models_dir)
    assert newer != first
    assert detector.get_detector(db_session=db_session) is not served
    meta = registry.read_metadata(detector.MODEL_NAME, newer, models_dir=chat_settings.models_dir)
    assert meta["n_learned"] == 1 and meta["sources"]["confirmed"] == 1


def test_greeting_menu_and_choice_then_description(chat):
    out = chat.say("hello")
    assert out["intent"] == "greeting"
    assert "intent:report_problem" in [c["value"] for c in out["choices"]]
    out = chat.pick("intent:report_problem")
    assert out["reply"] == "Please describe the problem."
    out = chat.say("what's the weather in paris tomorrow")  # taken as the description, not re-detected
    assert out["intent"] == "report_problem"


def test_conversations_are_private(client, users, chat_as):
    mine = chat_as("requester")
    mine.say("hello")
    cid = mine.conversation_id
    other = users["requester2"].headers
    assert_error(client.get(f"{API}/chat/{cid}", headers=other), 404)
    r = client.post(f"{API}/chat", json={"conversation_id": cid, "message": "hi"}, headers=other)
    assert_error(r, 404, "conversation_id")
    assert client.get(f"{API}/chat", headers=other).json()["items"] == []
    assert client.get(f"{API}/chat/{cid}", headers=users["agent"].headers).status_code == 200
    assert client.get(f"{API}/chat/{cid}", headers=users["admin"].headers).status_code == 200
    assert_error(client.get(f"{API}/chat/{cid}", headers=users["data_scientist"].headers), 404)
    assert_error(client.get(f"{API}/chat"), 401)
    # Staff may read, not speak for the user.
    r = client.post(
        f"{API}/chat", json={"conversation_id": cid, "message": "hi"}, headers=users["agent"].headers
    )
    assert_error(r, 404, "conversation_id")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "message"),
        ({"message": ""}, "message"),
        ({"message": "   "}, "message"),
        ({"message": "x" * 4001}, "message"),
        ({"message": "hi", "choice": "person"}, "choice"),
        ({"choice": "person"}, "conversation_id"),
        ({"conversation_id": 0, "message": "hi"}, "conversation_id"),
        ({"message": "hi", "extra": 1}, "extra"),
    ],
)
def test_bad_input_names_the_field(client, users, body, field):
    r = client.post(f"{API}/chat", json=body, headers=users["requester"].headers)
    assert_error(r, 422, field)


def test_choice_not_offered_is_refused_and_nothing_changes(chat, client):
    chat.say("hello")
    r = client.post(
        f"{API}/chat",
        json={"conversation_id": chat.conversation_id, "choice": "feedback:yes"},
        headers=chat.actor.headers,
    )
    assert_error(r, 422, "choice")
    conv = client.get(f"{API}/chat/{chat.conversation_id}", headers=chat.actor.headers).json()
    assert len(conv["messages"]) == 2 and conv["outcome"] is None


def test_data_scientist_cannot_get_a_ticket_but_gets_a_clear_reply(chat_as):
    ds = chat_as("data_scientist")
    ds.say("what's the weather in paris tomorrow")
    out = ds.pick("ticket:incident")
    assert out["ticket"] is None and "cannot open tickets" in out["reply"]


def test_abandon_stale_conversations(chat, db_session):
    from datetime import timedelta

    from itsm_ai.chat.conversations import abandon_stale
    from itsm_ai.chat.models import Conversation

    chat.say("what's the weather in paris tomorrow")
    assert abandon_stale(db_session=db_session, older_than=timedelta(minutes=-1)) == 1
    db_session.commit()
    conv = db_session.get(Conversation, chat.conversation_id)
    assert conv.outcome == "abandoned" and conv.state == "abandoned"


def test_cli_train(db):
    from typer.testing import CliRunner

    from itsm_ai.cli import app

    result = CliRunner().invoke(app, ["chat", "train"])
    assert result.exit_code == 0, result.output


def test_how_to_answers_from_articles(chat, knowledge):
    out = chat.say("how can I fix outlook crashing")
    assert out["intent"] == "how_to"
    assert out["answers"][0]["kind"] in ("knowledge_article", "ticket_fix")
    assert knowledge["kb"] in [a["number"] for a in out["answers"]]
    assert out["ask_feedback"] is True


def test_no_matching_item_opens_a_general_request(chat, client, users):
    _admin(client, users, "POST", "/catalog-items", json={"name": "Laptop"})
    out = chat.say("I need a new laptop")
    assert "item:none" in [c["value"] for c in out["choices"]]
    out = chat.pick("item:none")
    assert [c["value"] for c in out["choices"]] == ["ticket:request", "person"]
    done = chat.pick("ticket:request")
    assert done["ticket"]["record_type"] == "service_request"
    assert done["ticket"]["short_description"] == "I need a new laptop"


def test_warm_up_in_background_loads_the_detector(db):
    from itsm_ai.chat import detector
    from itsm_ai.chat.detector import reset_detector, warm_up_in_background

    reset_detector()
    thread = warm_up_in_background()
    thread.join(timeout=120)
    assert not thread.is_alive() and thread.daemon
    assert detector._Loaded.detector is not None


LEAKY_NOTES = (
    "Printer queue on prn-fl3-07.corp.example.com was stuck; restarted the spooler on fileserver02 "
    "(10.44.12.7) as CORP\\svc_print. Temporary password is Spring2026! and pwd=Xy7$kq for the "
    "service account; user jdoe@wks-0415 signed in again. Token ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6."
)
LEAKED = (
    "prn-fl3-07", "corp.example.com", "fileserver02", "10.44.12.7", "svc_print", "Spring2026",
    "Xy7$kq", "jdoe", "wks-0415", "ghp_A1b2",
)


def test_chat_never_shows_another_requesters_ticket(chat_as, client, users, retrieval):
    """Regression: requester B asking about requester A's problem saw A's number, title and notes."""
    number = _resolved_incident(
        client,
        users,
        "Printer on floor 3 queue stuck for Alice in accounting",
        LEAKY_NOTES,
        shareable=False,
        caller="requester",
    )
    b = chat_as("requester2")
    out = b.say("the printer queue on floor 3 is stuck")
    seen = repr(out)
    assert number not in seen and "Alice" not in seen and "accounting" not in seen
    assert not [a for a in out["answers"] if a["kind"] == "ticket_fix"]
    for secret in LEAKED:
        assert secret not in seen, secret

    # The agent marks the fix shareable (audited): B now gets it scrubbed, still without number or title.
    inc = client.get(f"{API}/incidents/{number}", headers=users["agent"].headers).json()
    assert inc["fix_shareable"] is False
    r = client.patch(
        f"{API}/incidents/{number}",
        json={"version": inc["version"], "fix_shareable": True},
        headers=users["agent"].headers,
    )
    assert r.status_code == 200, r.text
    audit = client.get(f"{API}/incidents/{number}/audit", headers=users["agent"].headers).json()
    shared = [row for row in audit if row["field"] == "fix_shareable"]
    assert len(shared) == 1 and shared[0]["actor"] == "agent", audit
    assert shared[0]["new_value"] in ("True", "true"), audit
    out = chat_as("requester2").say("the printer queue on floor 3 is stuck")
    fixes = [a for a in out["answers"] if a["kind"] == "ticket_fix"]
    assert len(fixes) == 1 and fixes[0]["number"] is None and fixes[0]["url"] is None
    assert "spooler" in fixes[0]["suggested_fix"] and "[secret]" in fixes[0]["suggested_fix"]
    seen = repr(out)
    assert number not in seen and "Alice" not in seen and "accounting" not in seen
    for secret in LEAKED:
        assert secret not in seen, secret
    # Agents still see the ticket itself.
    agent = chat_as("agent").say("the printer queue on floor 3 is stuck")
    assert number in [a["number"] for a in agent["answers"]]


def test_requester_cannot_mark_a_fix_shareable(client, users):
    r = client.post(
        f"{API}/incidents",
        json={"short_description": "VPN down", "fix_shareable": True},
        headers=users["requester"].headers,
    )
    assert_error(r, 403, "fix_shareable")


def test_status_counts_every_open_ticket_and_lists_each_once(chat, client, users):
    headers = users["requester"].headers
    numbers = [
        client.post(
            f"{API}/incidents", json={"short_description": f"Printer {i} jams"}, headers=headers
        ).json()["number"]
        for i in range(12)
    ]
    out = chat.say("what's the status of my ticket")
    assert out["intent"] == "check_status"
    assert "You have 12 open tickets." in out["reply"]
    shown = [t["number"] for t in out["tickets"]]
    assert len(shown) == len(set(shown)) == 10 and set(shown) <= set(numbers)
    # The text counts; the list carries the tickets, so a page showing both names each ticket once.
    assert not any(n in out["reply"] for n in numbers)


def test_item_with_required_questions_is_sent_to_the_catalog_form(chat, client, users):
    questions = [{"name": "application", "label": "Which application", "required": True}]
    item = _admin(client, users, "POST", "/catalog-items", json={"name": "Laptop", "variables": questions})
    assert chat.say("I need a new laptop")["intent"] == "request_item"
    done = chat.pick(f"item:{item['id']}")
    assert done.get("ticket") is None and "service catalog" in done["reply"]
    assert client.get(f"{API}/requests", headers=users["agent"].headers).json()["total"] == 0
