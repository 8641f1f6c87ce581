"""Serving triage models: the promoted versions' suggestions for a text, and the challengers run in shadow."""
