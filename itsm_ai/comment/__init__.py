"""Public replies and internal work notes."""
