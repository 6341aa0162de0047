"""Exceptions of ldrx. All are ValueErrors, so callers that catch ValueError keep working."""


class DataError(ValueError):
    """Bad input data: malformed files, unknown species, non-finite values, overlapping atoms, ...
    The message names the file (or frame) and, where it applies, the line and atom."""


class ModelFileError(ValueError):
    """A model file that cannot be used: wrong format, newer format version, other species."""
