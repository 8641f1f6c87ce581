"""Assignment groups."""
