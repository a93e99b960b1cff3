"""The number rules, declared once: presets, commands, the CLI and the dialogs all check with these.

Each rule is a pydantic type (used in the preset models) and a `parse_*` function built on its
`TypeAdapter`, which turns any input (a float, a string typed in a dialog) into a number or a
CommandError naming what is wrong.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, TypeAdapter, ValidationError

from tui_mtl.errors import CommandError

PositiveFloat = Annotated[float, Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, Field(ge=0, allow_inf_nan=False)]
PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]

# what each rule is called in messages
_RULES: dict[str, tuple[TypeAdapter, str]] = {
    "positive": (TypeAdapter(PositiveFloat), "a finite number > 0"),
    "non_negative": (TypeAdapter(NonNegFloat), "a finite number >= 0"),
    "positive_int": (TypeAdapter(PositiveInt), "a whole number > 0"),
    "non_negative_int": (TypeAdapter(NonNegInt), "a whole number >= 0"),
}


def _parse(rule: str, value: object, what: str) -> float:
    adapter, wanted = _RULES[rule]
    text = value.strip() if isinstance(value, str) else value
    if text == "":
        raise CommandError(f"{what}: enter {wanted}")
    try:
        return adapter.validate_python(text)
    except ValidationError:
        raise CommandError(f"{what}: must be {wanted}, got {value!r}") from None


def parse_positive(value: object, what: str) -> float:
    """A learning rate or a loss scale: a finite number > 0."""
    return float(_parse("positive", value, what))


def parse_non_negative(value: object, what: str) -> float:
    """A loss weight: a finite number >= 0."""
    return float(_parse("non_negative", value, what))


def parse_positive_int(value: object, what: str) -> int:
    """A number of steps, trials or seeds."""
    if isinstance(value, float) and not value.is_integer():
        raise CommandError(f"{what}: must be a whole number > 0, got {value!r}")
    return int(_parse("positive_int", value, what))


def parse_non_negative_int(value: object, what: str) -> int:
    return int(_parse("non_negative_int", value, what))
