"""Semantic layer: embeddings, the FAISS index derived from them, hybrid search, related papers.

torch, sentence-transformers and faiss are imported lazily: the web process pays for them only
when a semantic query arrives, and `import app.main` stays light.
"""
