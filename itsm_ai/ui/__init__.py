"""Web UI: the requesters' self-service portal and the agents' console, served by the API app."""
