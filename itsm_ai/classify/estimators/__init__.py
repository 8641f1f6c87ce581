"""The pure ML core of triage: values, texts and arrays in, no database and no web framework."""
