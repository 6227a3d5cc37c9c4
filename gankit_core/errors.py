"""User-facing errors: anything raised as a GankitError is printed as one line, never a traceback."""

from __future__ import annotations

import difflib
import os


class GankitError(Exception):
    """A problem with the user's input (path, config value, checkpoint, data): one line, non-zero exit."""

    exit_code = 1


class ConfigError(GankitError):
    """A config key or value that cannot be used."""


class CheckpointError(GankitError):
    """A checkpoint that is missing, truncated, corrupt, or from another model or config."""


class DataError(GankitError):
    """A dataset spec, folder or image that cannot be read."""


class UnknownNameError(GankitError, KeyError):
    """A registry lookup for a name nobody registered."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


class DuplicateRegistrationError(GankitError):
    """Two plugins registered the same kind and name."""


def did_you_mean(name: str, candidates) -> str:
    """A '; did you mean 'x'?' suffix naming the closest candidate, or '' when none is close."""
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.5)
    return f"; did you mean '{close[0]}'?" if close else ""


def debug_enabled() -> bool:
    """``gankit --debug`` or ``GANKIT_DEBUG=1``: show the traceback behind a one-line error."""
    return os.environ.get("GANKIT_DEBUG", "").strip().lower() not in ("", "0", "false", "no")


def describe_os_error(error: OSError) -> str:
    """'PATH: reason' for a failed file operation (the path the user named, and what the system said)."""
    reason = error.strerror or str(error) or type(error).__name__
    if error.filename is None:
        return reason
    target = f"{error.filename} -> {error.filename2}" if error.filename2 is not None else str(error.filename)
    return f"{target}: {reason}"
