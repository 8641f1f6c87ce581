"""Files on tickets and knowledge articles: bytes in a storage, metadata (sniffed type, sha256) in the DB."""
