"""The running index owner (``serve``, ``watch``): the Library that holds the writer lock, its
watch folders and the local API other terminals hand their writes to. May import
``components`` and below; never ``cli`` or ``ui``."""
