"""SLAs: policies and calendars as data, per-ticket clocks kept by a listener, a sweep that escalates."""
