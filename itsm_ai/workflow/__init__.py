"""Workflow engine pure cores: state tables, priority, calendars, SLA maths, rule conditions and actions."""
