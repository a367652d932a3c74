"""Evaluation on question files with gold pages: retrieval metrics, answer metrics, the tutorial
baseline. Takes the pipeline under test as a function; may import ``retrieval``, ``llm`` and
``ingest``, never ``answer`` or anything above."""
