"""The ``localrag`` command (``main``) and its terminal output. The top floor: it may import any
package of ``app`` and ``ingest``; nothing imports it."""
