"""The metadata vocabulary of a spec field, and dataclass field constructors that carry it.

A config tree is a tree of dataclasses whose fields are declared with the constructors below.
``schemas.generator`` turns the tree into TAO-format JSON schemas; ``schemas.validation``
checks specs against those schemas. The keys and their meaning are listed in
docs/SCHEMA_METADATA.md: TAO's own keys keep TAO's meaning, ours are written with an ``x_``
prefix so TAO's consumers ignore them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Callable, Sequence

META_KEY = "schema"


@dataclass(frozen=True)
class FieldMeta:
    """What a spec key means, which values are valid, and how AutoML may search it.

    Validity (a spec outside is refused): ``minimum``/``maximum`` (``exclusive_minimum``),
    ``options``, ``math_cond``, ``multiple_of``, list shape. Search only (narrows what AutoML
    samples, never refuses a user's value): ``scale``, ``search_min``/``search_max``,
    ``search_options``, ``relative_max``, ``option_weights``, ``ordered``, ``automl_cost``.
    """

    description: str
    title: str = ""
    value_type: str = ""  # TAO value type: int, float, bool, string, categorical, ordered_int, list, list_2, collection
    minimum: float | int | None = None
    maximum: float | int | None = None
    exclusive_minimum: bool = False
    options: tuple[Any, ...] | None = None
    option_weights: tuple[float, ...] | None = None
    math_cond: str | None = None
    depends_on: str | None = None
    parent_param: bool = False  # a bool switch: fields depending on it only matter when it is true
    automl_enabled: bool | None = None  # True: searched by default; False: never searched; None: on request
    automl_cost: bool = False  # searched on request when a study has a cost objective (x_automl_cost_parameters)
    ordered: bool = False  # string options listed in an order that means something (e.g. model size)
    popular: bool = False
    scale: str | None = None  # "log" or "linear"
    search_min: float | int | None = None
    search_max: float | int | None = None
    search_options: tuple[Any, ...] | None = None
    relative_max: float | None = None  # search max = this fraction of the depends_on value
    multiple_of: str | None = None  # dotted key whose value this one must be a multiple of
    list_length: int | None = None
    item_minimum: float | int | None = None
    item_maximum: float | int | None = None
    fixed: bool = False  # must keep its default (kept for compatibility, not used)
    io: str | None = None  # "folder" or "file": an input path of its action (skill_info.yaml)
    io_optional: bool = False
    actions: tuple[str, ...] = ()  # a section that only some actions' schemas carry


def _field(default: Any, meta: FieldMeta) -> Any:
    if isinstance(default, (list, dict)):
        frozen = list(default) if isinstance(default, list) else dict(default)
        factory: Callable[[], Any] = lambda: type(frozen)(frozen)  # noqa: E731
        return dataclasses.field(default_factory=factory, metadata={META_KEY: meta})
    return dataclasses.field(default=default, metadata={META_KEY: meta})


def _meta(value_type: str, description: str, **kwargs: Any) -> FieldMeta:
    for key in ("options", "option_weights", "search_options", "actions"):
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
