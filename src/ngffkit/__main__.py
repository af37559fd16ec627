"""``python -m ngffkit``: the ``ngff`` command line."""

from ngffkit.cli.entry import main

if __name__ == "__main__":
    main()
