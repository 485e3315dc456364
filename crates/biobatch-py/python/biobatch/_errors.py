"""The exceptions biobatch raises.

Every error from the Rust side keeps its message (file, line, field and what was expected)
and is a :class:`BiobatchError`; each is also the builtin exception a Python user expects,
so ``except ValueError`` and ``except FileNotFoundError`` work as usual.
"""


class BiobatchError(Exception):
    """Base class of every error raised by biobatch."""


class InvalidInputError(BiobatchError, ValueError):
    """Bad arguments, or input files that are damaged or disagree with each other."""


class DataFileNotFoundError(BiobatchError, FileNotFoundError):
    """A file that the arguments name does not exist."""


class BiobatchIOError(BiobatchError, OSError):
    """Reading or writing a file failed (other than a missing file)."""
