"""Pure ML core of triage: text/field features, calibrated classifiers with per-class abstention thresholds,
evaluation, pipeline selection and a file-based model registry (no SQLAlchemy, no FastAPI)."""
