"""Incidents, problems, changes and service requests."""
