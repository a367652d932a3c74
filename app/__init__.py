"""localrag's application layer, one package per concern; imports run downward only.

cli -> ui, api -> owner -> components -> answer, eval -> retrieval, llm -> ingest.
``offline`` is a leaf any entry point may use. ``tests/test_structure.py`` enforces the order.
"""
