"""The project's own error types: each carries one line a user can act on."""


class TuiMtlError(Exception):
    """Base: the message names what is wrong and where."""


class PresetError(TuiMtlError):
    """A preset file is unreadable or invalid."""


class DataError(TuiMtlError):
    """A data source cannot produce what the preset asks for."""


class CommandError(TuiMtlError):
    """A command names an unknown head or strategy, or an invalid value."""
