"""`deepx` command line: thin commands, one module each (add_arguments(p) / run(args)), over objects
that parse their own overrides. The dispatcher is main.py; heavy imports happen inside run()."""
from .errors import CliError
from .main import main

__all__ = ["CliError", "main"]
