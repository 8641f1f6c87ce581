"""Assets (configuration items) and their links to tickets."""
