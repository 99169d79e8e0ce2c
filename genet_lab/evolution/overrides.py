"""The training options a search sets for every evaluation: :class:`TrainOverrides`, the fields of
:class:`~genet_lab.training.config.TrainConfig` each made optional (None: the recipe's or the data
set's). Derived from TrainConfig's fields and types, so a new training option is an override at
once, and checked for its type here (its value by TrainConfig, when a fitness is built). Stored
inside a search config as the options that were set. No torch.
"""

from __future__ import annotations

import typing
from collections.abc import Mapping
from dataclasses import field, make_dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from genet_lab.errors import ConfigError, reject_unknown_keys
from genet_lab.training.config import TrainConfig

__all__ = ["SET_BY_SEARCH", "TrainOverrides"]


SET_BY_SEARCH = ("epochs", "seed", "eval_test")
"""TrainConfig fields a search sets itself, so not overrides: ``epochs`` and ``eval_test`` are
SearchConfig's own, and the seed is each evaluation's."""
_HINTS = {k: v for k, v in typing.get_type_hints(TrainConfig).items() if k not in SET_BY_SEARCH}
_TYPE_WORDS = {int: "an integer", float: "a number", str: "a string", bool: "true or false"}


def _accepts(hint: Any, value: Any) -> bool:
    """Whether ``value`` is of type ``hint`` (int, float, str, bool or one of them | None) as JSON
    spells it: a bool is no number, an int is a float."""
    kinds = [k for k in typing.get_args(hint) or (hint,) if k is not type(None)]
    return any(
        isinstance(value, bool)
        if k is bool
        else isinstance(value, (int, float) if k is float else k) and not isinstance(value, bool)
        for k in kinds
    )


class _Overrides:
    """What :class:`TrainOverrides` does besides holding fields: check them, and read and write the
    stored format (only the options that were set)."""

    __dataclass_fields__: ClassVar[dict[str, Any]]

    def __post_init__(self) -> None:
        for name, hint in _HINTS.items():
            value = getattr(self, name)
            if value is not None and not _accepts(hint, value):
                kind = next(k for k in typing.get_args(hint) or (hint,) if k is not type(None))
                raise ConfigError(
                    name, value, template="training option {option} must be " + _TYPE_WORDS[kind] + ", got {value!r}"
                )

    def to_dict(self) -> dict[str, Any]:
        """The options that were set (the stored format)."""
        return {k: getattr(self, k) for k in _HINTS if getattr(self, k) is not None}

    def updated(self, **changes: Any) -> TrainOverrides:
        """These overrides with ``changes`` (None unsets one)."""
        return TrainOverrides.from_dict({**self.to_dict(), **changes})

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainOverrides:
        data = {k: v for k, v in data.items() if v is not None}
        reject_unknown_keys(data, TrainOverrides, "training option(s)", list_known=True)
        return TrainOverrides(**data)


if TYPE_CHECKING:

    class TrainOverrides(_Overrides):
        def __init__(self, **options: Any) -> None: ...
        def __getattr__(self, name: str) -> Any: ...

else:
    TrainOverrides = make_dataclass(
        "TrainOverrides",
        [(name, hint | None, field(default=None)) for name, hint in _HINTS.items()],
        bases=(_Overrides,),
        frozen=True,
        namespace={"__module__": __name__},
    )
    TrainOverrides.__doc__ = (
        "The fields of :class:`~genet_lab.training.config.TrainConfig` (but those in "
        ":data:`SET_BY_SEARCH`) that a search may set for every evaluation, each None unless set: "
        "derived from TrainConfig, so a new training option is an override at once."
    )
