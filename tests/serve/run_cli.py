"""Run ``ngff`` as ``python tests/serve/run_cli.py serve ...`` would from the console script.

While ``serve`` is the only command module present on a branch, Typer treats the app as a
single command and ``ngff serve PATH`` fails to parse; a no-op callback makes it a group, as
it is once the other commands are registered.
"""

from ngffkit.cli import app as cli

if len(cli.app.registered_commands) == 1 and cli.app.registered_callback is None:
    cli.app.callback()(lambda: None)

cli.main()
