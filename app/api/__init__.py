"""The OpenAI-compatible endpoint (``/v1/models``, ``/v1/chat/completions``) that ``serve``
mounts beside the browser app: payload shapes (``payloads``, pure) and the routes, their
token check and streaming (``openai_compat``).

It may import ``app.owner`` (the library, scopes), ``app.answer`` (the chain and its
events), ``app.llm`` and ``ingest``; never ``app.ui`` (same floor) or ``app.cli`` (above).
"""
