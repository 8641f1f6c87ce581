"""Request bodies of the encoder endpoints (its jobs are rows of the training-jobs table)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class EncoderTrainBody(BaseModel):
    """Train a new encoder version on the desk's confirmed pairs."""

    model_config = ConfigDict(extra="forbid")

    epochs: int | None = Field(default=None, ge=1, le=20, description="Passes over the pairs (setting).")
    max_seconds: float | None = Field(
        default=None, gt=0, le=24 * 3600, description="Time box of the training (default: the setting)."
    )
    promote: bool = Field(default=False, description="Promote it (index built first) when training succeeds.")


class EncoderVersionBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str = Field(min_length=1, max_length=20, description="An encoder version, e.g. v0002.")


class EncoderChallengerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(max_length=20, description="The version to compare with CURRENT; null stops.")
