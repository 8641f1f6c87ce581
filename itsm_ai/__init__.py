"""itsm-ai: an open-source, AI-first IT service management service."""

__version__ = "0.1.0"
