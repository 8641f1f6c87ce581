"""Service reports: report facts, SQL report walks, the reports API and dashboard charts."""
