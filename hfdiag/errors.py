"""Errors that end a command with one clear line on stderr and a defined exit status."""

from hfdiag.exit_status import ExitStatus


class HfdiagError(Exception):
    """A problem the user can fix; printed as one line, never as a traceback."""

    exit_status = ExitStatus.USAGE

    def __init__(self, message: str, exit_status: ExitStatus | None = None):
        super().__init__(message)
        if exit_status is not None:
            self.exit_status = exit_status


class UsageError(HfdiagError):
    pass


class InputError(HfdiagError):
    """An input file or text that cannot be read (too big, wrong type, bad schema)."""


class RuleError(HfdiagError):
    """A rule, signature or chain file that does not validate."""
