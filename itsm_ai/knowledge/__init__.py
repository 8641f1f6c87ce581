"""Knowledge articles, similar-incident retrieval and article drafting."""
