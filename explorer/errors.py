"""Exceptions the explorer raises for problems a user can fix.

Every message is one line that names the problem; the CLI and the app print it as it is,
without a traceback.
"""


class ExplorerError(Exception):
    """Base class: a problem with the user's input or environment, not a bug."""


class InputError(ExplorerError, ValueError):
    """A molecule, basis, functional or setting that cannot be used."""


class WeightsError(ExplorerError):
    """The DM21 checkpoints are missing or do not match their published checksums."""


class ConvergenceError(ExplorerError):
    """A self-consistent field calculation produced a non-finite energy."""
