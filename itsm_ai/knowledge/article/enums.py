"""Knowledge article states: draft -> review -> published -> retired; review -> draft (the transition table is
in workflow/transitions.py)."""

from enum import StrEnum


class ArticleState(StrEnum):
    draft = "draft"
    review = "review"
    published = "published"
    retired = "retired"
