"""Dataclass fields that carry the metadata the schema generator and the spec validator read.

Every spec key is declared with one of the constructors below. The metadata vocabulary
(``FieldMeta``) is documented in docs/SCHEMA_METADATA.md; the schema generator turns it into
TAO-format JSON schema keys, and ``reid_core.config.validation`` checks specs against it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

META_KEY = "reid"


@dataclass(frozen=True)
class FieldMeta:
    """What a spec key means and which values it admits.

    ``minimum``/``maximum`` are validity bounds (a spec outside them is refused);
    ``search_min``/``search_max``/``scale`` narrow the range AutoML samples from;
    ``options`` are the admitted values of a categorical key, ``option_weights`` their prior.
    """

    description: str
    title: str = ""
    value_type: str = ""  # TAO value type: int, float, bool, string, categorical, list, list_2, ...
    minimum: float | int | None = None
    maximum: float | int | None = None
    exclusive_minimum: bool = False  # the value must be > minimum (e.g. a learning rate)
    options: tuple[Any, ...] | None = None
    option_weights: tuple[float, ...] | None = None
    math_cond: str | None = None
    depends_on: str | None = None
    parent_param: bool = False
    automl_enabled: bool | None = None  # None: neither searched by default nor disabled
    automl_default: bool = False  # in the schema's automl_default_parameters
    popular: bool = False
    scale: str | None = None  # "log" or "linear": how AutoML samples a float/int
    search_min: float | int | None = None
    search_max: float | int | None = None
    list_length: int | None = None  # exact length of a list value
    item_minimum: float | int | None = None  # bounds on each element of a list
    item_maximum: float | int | None = None
    transformer_only: bool = False  # kept for TAO compatibility; only transformer backbones use it
    actions: tuple[str, ...] = ()  # non-empty: the key only matters to these actions


def _field(default: Any, meta: FieldMeta) -> Any:
    if isinstance(default, (list, dict)):
        frozen = list(default) if isinstance(default, list) else dict(default)
        factory: Callable[[], Any] = lambda: type(frozen)(frozen)  # noqa: E731
        return dataclasses.field(default_factory=factory, metadata={META_KEY: meta})
    return dataclasses.field(default=default, metadata={META_KEY: meta})


def _meta(value_type: str, description: str, **kwargs: Any) -> FieldMeta:
    for key in ("options", "option_weights"):
        if kwargs.get(key) is not None:
            kwargs[key] = tuple(kwargs[key])
    return FieldMeta(description=description, value_type=value_type, **kwargs)


def int_field(default: int, description: str, **kwargs: Any) -> Any:
    """An integer key; ``options`` makes it an ordered choice (TAO ``ordered_int``)."""
    value_type = "ordered_int" if kwargs.get("options") is not None else "int"
    return _field(default, _meta(value_type, description, **kwargs))


def float_field(default: float, description: str, **kwargs: Any) -> Any:
    return _field(default, _meta("float", description, **kwargs))


def bool_field(default: bool, description: str, **kwargs: Any) -> Any:
    return _field(default, _meta("bool", description, **kwargs))


def str_field(default: str, description: str, **kwargs: Any) -> Any:
    """A string key; ``options`` makes it categorical."""
    value_type = "categorical" if kwargs.get("options") is not None else "string"
    return _field(default, _meta(value_type, description, **kwargs))


def list_field(default: Sequence[Any], description: str, value_type: str = "list", **kwargs: Any) -> Any:
    return _field(list(default), _meta(value_type, description, **kwargs))


def section_field(factory: Callable[[], Any], description: str, **kwargs: Any) -> Any:
    """A nested config section (TAO ``collection``)."""
    return dataclasses.field(
        default_factory=factory, metadata={META_KEY: _meta("collection", description, **kwargs)}
    )


def field_meta(field: dataclasses.Field) -> FieldMeta:
    return field.metadata[META_KEY]
