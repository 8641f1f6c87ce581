"""Wires the engine to the store: subscribes every feature's listener to the store's domain events.

The store (records) knows nothing of SLAs, rules, webhooks or ML; each of those exposes a listener
`(db_session, RecordEvent) -> None` and is listed here, in the order they run for one event.
"""

from __future__ import annotations

import importlib
import threading

from itsm_ai.records import events

# "module:function" of each listener, in run order (SLA clocks before rules, rules before outgoing events;
# report facts right after the SLA clocks they copy).
LISTENERS: list[str] = [
    "itsm_ai.sla.service:on_record_event",
    "itsm_ai.reports.flows:on_record_event",
    "itsm_ai.classify.flows:on_record_event",
    "itsm_ai.knowledge.flows:on_record_event",
    # Before the rules, so a rule sees the risk the change gives the ticket (breach_risk > 0.8).
    "itsm_ai.predictions.flows:on_record_event",
    "itsm_ai.automation.engine:on_record_event",
    "itsm_ai.notification.recipients:on_record_event",
    "itsm_ai.webhooks.service:on_record_event",
    # Last: asking approvers moves the new request on (an update event), after every listener saw the create.
    "itsm_ai.approval.flows:on_record_event",
]

# "module:function" of each listener that sees a new record before its INSERT (kind "creating"), in order.
BEFORE_CREATE: list[str] = [
    "itsm_ai.classify.flows:on_record_creating",
    "itsm_ai.knowledge.flows:suggest_on_create",
]

# "module:function" of each preparer: the session-free part of a BEFORE_CREATE listener (records.events).
PREPARE: list[str] = [
    "itsm_ai.classify.flows:prepare_create",
    "itsm_ai.knowledge.flows:prepare_create",
]

# effect kind -> "module:function" carrying out that kind of automation effect (records.events.carry_out).
EFFECT_HANDLERS: dict[str, str] = {
    "approval": "itsm_ai.approval.flows:ask_for_rule",
}

_installed = False
_lock = threading.Lock()


def install() -> None:
    """Subscribe every listener once per process."""
    global _installed
    with _lock:
        if _installed:
            return
        for target in LISTENERS:
            module_name, func_name = target.split(":")
            events.subscribe(getattr(importlib.import_module(module_name), func_name))
        for target in BEFORE_CREATE:
            module_name, func_name = target.split(":")
            events.subscribe_before_create(getattr(importlib.import_module(module_name), func_name))
        for target in PREPARE:
            module_name, func_name = target.split(":")
            events.subscribe_prepare(getattr(importlib.import_module(module_name), func_name))
        for kind, target in EFFECT_HANDLERS.items():
            module_name, func_name = target.split(":")
            events.handle_effect(kind, getattr(importlib.import_module(module_name), func_name))
        _installed = True
