"""Bundled demo data (a small slice of real, openly licensed tickets) and its idempotent loader."""
