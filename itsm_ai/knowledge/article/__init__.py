"""The knowledge article record: its states, table and schemas, spec, reader feedback, links and endpoints."""
