"""Knowledge article states."""

from enum import StrEnum


class ArticleState(StrEnum):
    """draft -> review -> published -> retired; review -> draft (the table is in workflow/transitions.py)."""

    draft = "draft"
    review = "review"
    published = "published"
    retired = "retired"
