"""A study's specs: the base spec every trial starts from, and the check a trial spec must pass.

The base spec is the skill's template, then ``--spec``, then the command line's overrides, then
AutoML's defaults for what the user left unsaid (see ``build_base_spec``). A trial's spec is the
base spec with the trial's searched values placed, its own results dir and, for a re-run, the
checkpoint it resumes from (``StudyRun.trial_spec``). Dotted keys, merging and overrides are
``schemas.spec``'s.
"""

from __future__ import annotations

from typing import Any

from automl.errors import AutomlError
from automl.options import StudyOptions
from automl.skill import Skill
from reid_core.config import build_spec
from reid_core.errors import SpecError
from schemas import spec as specs
from schemas import validate_spec

DEFAULT_VAL_SPLIT = 0.2


def read_user_layers(options: StudyOptions) -> list[dict[str, Any]]:
    """``--spec`` (when given) and the command line's overrides, as spec layers."""
    try:
        layers = [specs.read_yaml_mapping(options.spec, label=f"--spec {options.spec}")] if options.spec else []
        layers.append(specs.parse_overrides(options.overrides))
    except specs.SpecError as err:
        raise AutomlError(str(err)) from None
    return layers


def build_base_spec(skill: Skill, options: StudyOptions) -> dict[str, Any]:
    """Template + --spec + overrides, then AutoML's defaults for what the user left unsaid:
    select on a validation split carved from the training identities (a spec's 0 is the
    default, not a choice; ``dataset.val_split=0`` on the command line selects on test/query as
    TAO does), validate and checkpoint every epoch, and with --max-epochs rescale the milestones
    and warm-up to the new length."""
    if skill.template is None and not options.spec:
        raise AutomlError(f"{skill.root}: no train spec template; pass --spec")
    user_layers = read_user_layers(options)
    spec = specs.merge(skill.template or {}, *user_layers)
    said = set().union(*(specs.flatten(layer) for layer in user_layers))
    said_on_command_line = set(specs.flatten(user_layers[-1]))
    flat = specs.flatten(spec)
    if "dataset.val_split" in flat and not flat["dataset.val_split"] \
            and "dataset.val_split" not in said_on_command_line:  # only `dataset.val_split=0` keeps TAO's mode
        specs.set_value(spec, "dataset.val_split", DEFAULT_VAL_SPLIT)
    if "train.validation_interval" in flat:
        interval = flat["train.validation_interval"] if "train.validation_interval" in said else 1
        specs.set_value(spec, "train.validation_interval", interval)
        checkpoint = specs.get(spec, "train.checkpoint_interval")
        unit = specs.get(spec, "train.checkpoint_interval_unit", "epoch")
        if "train.checkpoint_interval" not in said or unit != "epoch" or interval % checkpoint:
            # every validated epoch needs its checkpoint: the resolver hands out the best one
            specs.set_value(spec, "train.checkpoint_interval", interval)
            specs.set_value(spec, "train.checkpoint_interval_unit", "epoch")
    if options.max_epochs is not None:
        before = specs.get(spec, "train.num_epochs") or options.max_epochs
        specs.set_value(spec, "train.num_epochs", options.max_epochs)
        ratio = options.max_epochs / before
        steps = specs.get(spec, "train.optim.lr_steps")
        if isinstance(steps, list) and "train.optim.lr_steps" not in said_on_command_line:
            specs.set_value(spec, "train.optim.lr_steps", sorted({max(1, round(s * ratio)) for s in steps}))
        for key in ("train.optim.warmup_iters", "train.optim.warmup_epochs"):
            value = specs.get(spec, key)
            if isinstance(value, int) and key not in said_on_command_line:
                specs.set_value(spec, key, round(value * ratio))
    return spec


def max_epochs(base_spec: dict[str, Any]) -> int:
    """Epochs a full trial trains."""
    return int(specs.get(base_spec, "train.num_epochs") or 1)


def is_our_trainer(skill: Skill) -> bool:
    return skill.info.get("network_arch") == "re_identification" and \
        (skill.info.get("actions") or {}).get("train", {}).get("command", "").startswith("re_identification")


def spec_problems(skill: Skill, spec: dict[str, Any]) -> list[str]:
    """Why a train spec would be refused (empty when it may be launched)."""
    if is_our_trainer(skill):
        try:
            build_spec([spec], "train")
        except SpecError as err:
            return str(err).splitlines()
        return []
    return [str(v) for v in validate_spec(spec, skill.schema)] if skill.schema else []
