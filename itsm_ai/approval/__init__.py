"""Approvals for changes and service requests: approvers, any/all policies, decisions."""
