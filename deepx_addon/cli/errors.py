"""The one error type of the command line."""


class CliError(Exception):
    """An error the user can fix: printed as one clear line, exit status 2."""
