"""``python -m pinwarden``: the same as the ``pinwarden`` command."""

from pinwarden.cli import app

app()
