"""The knowledge article record: its table and schemas, spec, reader feedback, links and endpoints."""
