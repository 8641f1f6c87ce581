"""Generic machinery for numbered records: numbers, counts, CRUD, lists, idempotency."""
