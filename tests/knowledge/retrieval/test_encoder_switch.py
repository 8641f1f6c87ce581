"""The blue/green encoder switch on its own: what it serves, what it swaps to and what it keeps for a rollback
(the registry's CURRENT stood in for by a variable; no database, no model)."""

from __future__ import annotations

from pathlib import Path

import pytest

from itsm_ai.knowledge.retrieval import encoder_switch
from itsm_ai.knowledge.retrieval.encoder_switch import EncoderSwitch


@pytest.fixture
def current(monkeypatch):
    """The version CURRENT names: current["version"] = ... moves it."""
    state = {"version": None}
    monkeypatch.setattr(encoder_switch, "promoted_encoder_version", lambda models_dir=None: state["version"])
    return state


def _switch(tmp_path: Path, **kwargs) -> tuple[EncoderSwitch, list]:
    resolved: list = []

    def resolve(version):
        resolved.append(version)
        return f"encoder {version}"

    kwargs.setdefault("follow_registry", True)
    switch = EncoderSwitch(base_directory=tmp_path, models_dir=tmp_path / "models", resolve=resolve, **kwargs)
    return switch, resolved


def test_a_given_encoder_is_served_as_is_and_never_swapped(tmp_path, current):
    switch, resolved = _switch(tmp_path, encoder="mine", follow_registry=False)
    current["version"] = "v0001"
    assert not switch.moved()
    assert switch.swap("index") == (False, "index")
    assert switch.encoder == "mine" and switch.version is None and switch.directory == tmp_path
    assert resolved == []


def test_a_promotion_swaps_to_the_new_folder_and_a_rollback_back_to_the_kept_index(tmp_path, current):
    switch, resolved = _switch(tmp_path)
    assert not switch.moved()
    assert switch.encoder == "encoder None"  # resolved lazily, for the version served
    current["version"] = "v0001"
    assert switch.moved()
    # The new version's index is not loaded yet: None tells the service to load it from its own folder.
    assert switch.swap("stock index") == (True, None)
    assert (switch.version, switch.encoder) == ("v0001", "encoder v0001")
    assert switch.directory == tmp_path / "encoders" / "v0001"
    assert not switch.moved() and switch.swap("v1 index") == (False, "v1 index")

    current["version"] = None
    assert switch.swap("v1 index") == (True, "stock index")  # the standby, still in memory
    assert (switch.version, switch.encoder, switch.directory) == (None, "encoder None", tmp_path)
    assert resolved == [None, "v0001"]  # the rollback resolved nothing again

    current["version"] = "v0001"
    assert switch.swap("stock index") == (True, "v1 index")
    assert switch.encoder == "encoder v0001" and resolved == [None, "v0001"]


def test_a_version_never_served_is_resolved_not_taken_from_the_standby(tmp_path, current):
    switch, resolved = _switch(tmp_path)
    current["version"] = "v0001"
    switch.swap("stock index")
    current["version"] = "v0002"
    assert switch.swap("v1 index") == (True, None)
    assert switch.encoder == "encoder v0002" and resolved == ["v0001", "v0002"]


def test_adopting_the_promoted_version_takes_its_folder_and_drops_the_loaded_encoder(tmp_path, current):
    switch, resolved = _switch(tmp_path)
    assert switch.encoder == "encoder None"
    current["version"] = "v0003"
    switch.adopt_promoted()
    assert switch.version == "v0003" and switch.directory == tmp_path / "encoders" / "v0003"
    assert switch.encoder == "encoder v0003" and resolved == [None, "v0003"]
