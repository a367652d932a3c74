"""``python -m app.cli``: the same as the ``localrag`` command."""

from app.cli.main import main

main()
