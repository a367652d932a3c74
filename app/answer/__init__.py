"""Answering: the retrieval chain, prompting and context packing, citation mapping. Pure where it
can be. May import ``retrieval``, ``llm`` and ``ingest``; never a package above it."""
