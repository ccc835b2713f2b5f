"""Compile TAO-format schemas into search spaces for Optuna and Ray Tune that only produce valid specs.

    space = compile_schema("schemas/train.schema.json")
    config = space.suggest(optuna_trial)        # or space.sample(rng), or Ray: search_spaces.ray_backend.param_space(space)
    spec = space.to_spec(config, base_spec)

See docs/SEARCH_SPACES.md for the parameter kinds, TAO's quirks and how each is decided.
"""

from schemas.spec import flatten
from search_spaces.choice import ChoiceParam
from search_spaces.compiler import compile_schema
from search_spaces.numeric import (
    DerivedParam,
    FloatParam,
    IntParam,
    PowerParam,
    SortedIntListParam,
)
from search_spaces.params import NoRoomError, Param, Relation, SearchSpaceError
from search_spaces.shown import shown_names, shown_params
from search_spaces.space import SearchSpace

__all__ = [
    "ChoiceParam", "DerivedParam", "FloatParam", "IntParam", "Param", "PowerParam", "Relation", "SearchSpace",
    "NoRoomError", "SearchSpaceError", "SortedIntListParam", "compile_schema", "flatten", "shown_names",
    "shown_params",
]
