"""Virtual agent: intent detection, conversations, self-service flows."""
