"""ServiceNow-compatible REST API: Table, Aggregate, Batch and Attachment APIs over the store."""
