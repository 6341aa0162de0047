"""Exceptions of ldrx. All are ValueErrors, so callers that catch ValueError keep working."""


class DataError(ValueError):
    """Bad input data: malformed files, unknown species, non-finite values, overlapping atoms, ...
    The message names the file (or frame) and, where it applies, the line and atom."""


class ModelFileError(ValueError):
    """A model file that cannot be used: wrong format, newer format version, other species."""


class ExtrapolationWarning(UserWarning):
    """Frames unlike the training data (atoms closer than any such pair in the training set): the
    prediction is an extrapolation and its error can be far above the test error."""


class UsageError(ValueError):
    """A mistake in how a command was called (an option, a config file's key): the CLI reports it on one
    line with exit status 2."""
