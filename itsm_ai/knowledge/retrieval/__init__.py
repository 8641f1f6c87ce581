"""Retrieval over tickets and published articles: a vector index and a BM25 index fused into hybrid search,
documents read from the store, and the process-wide service kept in line with the database.

The indexes (``vector_*``, ``lexical``, ``hybrid``, ``encoders``) are pure: values, texts and arrays in,
no database and no web framework. ``documents``, ``reconcile``, ``service`` and ``sync`` connect them to
the store.
"""
