"""Search by meaning: local embedding models, the embed stage, the vector index, hybrid ranking."""
