"""Tests of tokens, passwords and user management."""
