"""``python -m ngffkit`` runs the ``ngff`` command line."""

from ngffkit.cli.app import main

main()
