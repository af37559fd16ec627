"""``python -m ngffkit``: the ``ngff`` command line."""

from ngffkit.cli.app import main

if __name__ == "__main__":
    main()
