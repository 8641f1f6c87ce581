"""Training triage models: labelled rows from the store or a CSV, a trained and evaluated version saved to the
registry, and background training jobs."""
