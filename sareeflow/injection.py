"""``SAREEFLOW_FAILURE_INJECTION``: named defects injected into chosen poses and attempts.

Syntax (DESIGN §9): comma-separated ``POSE:DEFECT@ATTEMPTS``, ATTEMPTS being ``N``, ``N-M`` or
``*``; e.g. ``02:border_distortion@1,03:color_shift@*``. The defect damages the adapter's output
before validation, so the retry path runs exactly as for a real defect: validation has to
catch it by measurement (nothing tells the validator a defect was injected).
"""

from __future__ import annotations

import re

from pydantic import BaseModel

from sareeflow.errors import InvalidInput

_RULE = re.compile(r"^(?P<pose>\d{2}):(?P<defect>[a-z_]+)@(?P<attempts>\*|\d+(?:-\d+)?)$")


class InjectionRule(BaseModel):
    pose: str
    defect: str
    first: int
    last: int | None
    """None means every attempt from ``first`` on."""

    def matches(self, pose: str, attempt: int) -> bool:
        return (
            pose == self.pose
            and attempt >= self.first
            and (self.last is None or attempt <= self.last)
        )


def parse_injection(spec: str, *, known_defects: set[str] | None = None) -> list[InjectionRule]:
    """Parse the setting; raise :class:`InvalidInput` naming the bad rule."""
    rules: list[InjectionRule] = []
    for raw in filter(None, (part.strip() for part in (spec or "").split(","))):
        match = _RULE.match(raw)
        if not match:
            raise InvalidInput(f"Bad failure-injection rule {raw!r}; expected POSE:DEFECT@N|N-M|*.")
        defect = match["defect"]
        if known_defects is not None and defect not in known_defects:
            raise InvalidInput(
                f"Unknown defect {defect!r} in failure injection; known: {', '.join(sorted(known_defects))}."
            )
        attempts = match["attempts"]
        if attempts == "*":
            first, last = 1, None
        elif "-" in attempts:
            first, last = (int(x) for x in attempts.split("-"))
        else:
            first = last = int(attempts)
        if first < 1 or (last is not None and last < first):
            raise InvalidInput(f"Bad attempt range in failure-injection rule {raw!r}.")
        rules.append(InjectionRule(pose=match["pose"], defect=defect, first=first, last=last))
    return rules


def defect_for(rules: list[InjectionRule], pose: str, attempt: int) -> str | None:
    """The defect to inject into this pose's attempt, if any (the first matching rule wins)."""
    for rule in rules:
        if rule.matches(pose, attempt):
            return rule.defect
    return None
