"""The retrieval encoder fine-tuned on the desk's confirmed pairs: training, registry verbs, blue/green."""
