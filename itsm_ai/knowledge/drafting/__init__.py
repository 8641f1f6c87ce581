"""Drafting knowledge articles from clusters of resolved tickets: clustering, PII scrubbing, the extractive
and generative drafters (pure), and the flows that draft from the store and report gaps and stale articles.
"""
