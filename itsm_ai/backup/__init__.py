"""Backup and restore of the whole service: database, attachments, model registry and retrieval index."""
