"""The ``sealyard`` command."""
