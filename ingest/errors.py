"""The project's own exceptions: one line each, with the fix where there is one."""


class LocalragError(Exception):
    """Base class: the CLI and UI show ``str(err)`` as a one-line message."""


class UnreadablePdf(LocalragError):
    """A file that cannot be read as a PDF (not a PDF, damaged, truncated, empty)."""


class PasswordProtected(UnreadablePdf):
    """A PDF that needs a password to open."""


class NoTextLayer(UnreadablePdf):
    """A PDF whose pages carry no extractable text (scanned images)."""


class FileChanging(LocalragError):
    """A file whose size or mtime changed while it was being read (still being copied)."""


class IndexMismatch(LocalragError):
    """The index was built with a different embedding model than the one configured."""


class IndexLocked(LocalragError):
    """Another process holds the single-writer lock on the data directory."""


class DocumentNotFound(LocalragError):
    """No indexed document matches the given file or id."""
