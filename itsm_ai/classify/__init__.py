"""Triage: model suggestions for ticket fields.

``estimators`` is the pure ML core (features, the calibrated classifier with per-class abstention thresholds,
evaluation, pipeline selection: no SQLAlchemy, no FastAPI); ``training`` turns labelled tickets into saved
versions in the model registry (``itsm_ai.registry``); ``serving`` turns the promoted versions into
suggestions. ``flows`` (on create) and ``feedback`` (agents' accept/override) apply them to tickets.
"""
