"""The service catalog."""
