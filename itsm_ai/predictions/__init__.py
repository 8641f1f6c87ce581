"""Predictions on open tickets: SLA-breach risk, time to resolve and ticket-volume anomalies."""
