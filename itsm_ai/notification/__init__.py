"""Notifications: mail to requesters, approvers and assignees from the transactional outbox, and an in-app list."""
