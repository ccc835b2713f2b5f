"""``automl_policy``: does this train request run a study or one plain training?

``--policy`` wins; else phrases in ``--request`` such as "turn off AutoML", "disable AutoML",
"no HPO" or "plain training" mean off for this run only; else on when the skill says
``automl_enabled: true`` and its train schema and template exist and parse. Enabled but not
runnable (schema or template missing): plain training, with a message saying so.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from automl.skill import Skill

_OFF = re.compile(
    r"\b(?:turn(?:ing)?\s+off|disabl\w*|switch(?:ing)?\s+off|without|no|skip\w*|don'?t\s+(?:use|run)|"
    r"do\s+not\s+(?:use|run))\s+(?:the\s+)?(?:automl|auto-ml|auto\s+ml|hpo|hyper-?parameter\s+(?:search|"
    r"optimi[sz]ation|tuning)|tuning|search)\b"
    r"|\bplain\s+training\b|\bjust\s+train\b|\bautoml\s*(?:=|:)?\s*off\b|\bautoml_policy\s*[:=]?\s*off\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class PolicyDecision:
    on: bool
    reason: str


def request_turns_automl_off(request: str) -> bool:
    return bool(_OFF.search(request or ""))


def decide(skill: Skill, policy: str | None, request: str | None) -> PolicyDecision:
    if policy is not None:
        return PolicyDecision(policy == "on", f"--policy {policy}")
    if request and request_turns_automl_off(request):
        return PolicyDecision(False, f"the request asks for it ({request!r})")
    if not skill.automl_enabled:
        return PolicyDecision(False, "the skill says automl_enabled: false")
    if not skill.runnable:
        return PolicyDecision(False, "AutoML is enabled for this model but not runnable until schemas are "
                                     f"generated ({skill.schema_problem}); running plain training")
    return PolicyDecision(True, "automl_enabled: true and the train schema and template are packaged")
