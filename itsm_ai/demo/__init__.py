"""Bundled demo data (a small slice of real, openly licensed tickets), its idempotent loader and the
demo's triage models."""
