"""API schemas of similar-record search and duplicate confirmation."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

SearchType = Literal["incident", "problem", "knowledge_article"]
SearchMode = Literal["hybrid", "dense", "lexical"]


class SimilarQuery(BaseModel):
    """POST /similar: a text and optional filters."""

    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=20_000, description="What to find similar records for.")
    k: int = Field(default=10, ge=1, le=100, description="How many items to return.")
    types: list[SearchType] | None = Field(
        default=None, description="Record types; default incident, problem and knowledge_article."
    )
    state: list[str] | None = Field(
        default=None,
        description='Ticket states (articles are always published); default ["resolved", "closed"].',
    )
    category: str | None = Field(default=None, max_length=80)
    opened_after: AwareDatetime | None = None
    opened_before: AwareDatetime | None = None
    mode: SearchMode = Field(default="hybrid", description="hybrid (BM25 + dense, fused), dense or lexical.")

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("state", mode="before")
    @classmethod
    def _one_state(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _window(self) -> SimilarQuery:
        if self.opened_after and self.opened_before and self.opened_before <= self.opened_after:
            raise ValueError("opened_before: must be later than opened_after")
        return self


class SimilarItem(BaseModel):
    """One similar record; tickets carry their resolution notes as suggested_fix, articles an excerpt."""

    model_config = ConfigDict(extra="allow")

    id: int
    number: str
    record_type: str
    correlation_id: str | None = None
    short_description: str
    score: float = Field(description="Cosine similarity of the embeddings (items are in hybrid rank order).")
    state: str
    category: str | None = None
    suggested_fix: str | None = None
    url: str
    via: list[str] = Field(
        default=[],
        description="Confirmed duplicates (numbers) this record was reached through: the search listed their "
        "master instead of them (setting knowledge_collapse_duplicates).",
    )


class SimilarPage(BaseModel):
    items: list[SimilarItem]


class DuplicateConfirm(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str | None = Field(
        default=None, description="The master incident; default: the suggested duplicate."
    )
