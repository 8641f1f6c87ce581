"""Notifications: mail to requesters, approvers and assignees from the outbox, and an in-app list."""
