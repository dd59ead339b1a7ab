"""Exit codes: part of the contract outside scripts rely on (see README, design.md)."""

from enum import IntEnum


class ExitStatus(IntEnum):
    OK = 0  # healthy, or nothing at/above --fail-on
    FINDING = 1  # a finding at/above --fail-on
    USAGE = 2  # usage or configuration error
    INCONCLUSIVE = 3  # evidence missing for a reason hfdiag cannot resolve
    INTERRUPTED = 130  # Ctrl-C (a partial report is still printed)
