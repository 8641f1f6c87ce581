"""The bottom of the store: record types, states, roles and the spec registry (no project imports)."""
