"""API schemas of article drafting and the knowledge-gap and stale-article reports."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class DraftRequest(BaseModel):
    """POST /knowledge/drafts/generate."""

    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(
        default=None, ge=1, le=3650, description="Only tickets resolved in the last days."
    )
    category: str | None = Field(default=None, max_length=80)
    min_cluster_size: int | None = Field(default=None, ge=2, le=1000)
    distance_threshold: float | None = Field(default=None, gt=0, lt=2)
    max_drafts: int = Field(default=10, ge=1, le=100)


class DraftSummary(BaseModel):
    number: str
    short_description: str
    state: str
    source_tickets: list[str]
    method: str
    confidence: float
    notes: list[str]


class DraftResult(BaseModel):
    tickets: int = Field(description="Resolved tickets considered.")
    clusters: int = Field(description="Clusters found that no published article covers.")
    drafts: list[DraftSummary]


class GapItem(BaseModel):
    size: int
    tickets: list[str]
    sample: list[str]
    max_article_similarity: float
    nearest_article: str | None
    member_coverage: float


class GapReport(BaseModel):
    tickets: int
    items: list[GapItem]


class StaleItem(BaseModel):
    article: str
    short_description: str
    median_similarity: float
    recent_count: int
    recent_agreement: float
    representative_ticket: str
    representative_fix: str | None


class StaleReport(BaseModel):
    items: list[StaleItem]
