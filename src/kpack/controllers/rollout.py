"""Rolling-update arithmetic (int-or-percent, fenceposts), label selectors, template hashes and validation."""

from __future__ import annotations

import json
import math
from typing import Any, Optional, Union

IntOrPercent = Union[int, str, None]


class ControllerError(ValueError):
    """Invalid controller input (the message names the object and field); nothing was changed."""


def scaled_value(value: IntOrPercent, total: int, round_up: bool, field: str = "value") -> int:
    """upstream intstr.GetScaledValueFromIntOrPercent: an int as is, "N%" of `total` rounded up or down."""
    if value is None:
        return 0
    if isinstance(value, bool):
        raise ControllerError(f"{field}: must be an integer or percentage, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        pct = int(value[:-1])
        return -(-pct * total // 100) if round_up else pct * total // 100
    raise ControllerError(f"{field}: must be an integer or percentage (e.g. '25%'), got {value!r}")


def int_or_percent_value(value: IntOrPercent) -> int:
    """The number in an int-or-percent (the N of "N%"), as upstream's getIntOrPercentValue."""
    if value is None:
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    s = str(value)
    return int(s[:-1]) if s.endswith("%") and s[:-1].isdigit() else 0


def resolve_fenceposts(
    max_surge: IntOrPercent, max_unavailable: IntOrPercent, desired: int
) -> tuple[int, int]:
    """Deployment (surge, unavailable) for `desired` replicas: surge rounds up, unavailable rounds down;
    if both come out 0, unavailable is 1 (upstream deploymentutil.ResolveFenceposts)."""
    surge = scaled_value(max_surge, desired, True, "maxSurge")
    unavailable = scaled_value(max_unavailable, desired, False, "maxUnavailable")
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def daemonset_fenceposts(
    max_surge: IntOrPercent, max_unavailable: IntOrPercent, desired: int
) -> tuple[int, int]:
    """DaemonSet (surge, unavailable) against `desired` nodes, both rounding up (upstream SurgeCount and
    UnavailableCount): a non-zero maxSurge turns maxUnavailable off; unavailable is 1 if both are 0."""
    if int_or_percent_value(max_surge) != 0:
        return scaled_value(max_surge, desired, True, "maxSurge"), 0
    unavailable = scaled_value(max_unavailable, desired, True, "maxUnavailable")
    if desired > 0 and unavailable == 0:
        unavailable = 1
    return 0, unavailable


# --- label selectors --------------------------------------------------------------------------------------
def selector_matches(selector: dict, labels: dict[str, str]) -> bool:
    """metav1.LabelSelector (matchLabels, matchExpressions In/NotIn/Exists/DoesNotExist) against labels."""
    for k, v in (selector.get("matchLabels") or {}).items():
        if labels.get(k) != str(v):
            return False
    for e in selector.get("matchExpressions") or []:
        key, op, vals = e.get("key"), e.get("operator"), [str(x) for x in e.get("values") or []]
        if op == "In" and labels.get(key) not in vals:
            return False
        if op == "NotIn" and key in labels and labels[key] in vals:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def check_selector(selector: Any, where: str) -> None:
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        raise ControllerError(f"{where}: spec.selector: Required value: empty selector is invalid")
    for i, e in enumerate(selector.get("matchExpressions") or []):
        op = e.get("operator") if isinstance(e, dict) else None
        if op not in ("In", "NotIn", "Exists", "DoesNotExist"):
            raise ControllerError(
                f"{where}: spec.selector.matchExpressions[{i}].operator: Unsupported value: {op!r}"
            )
        if op in ("In", "NotIn") and not e.get("values"):
            raise ControllerError(
                f"{where}: spec.selector.matchExpressions[{i}].values: Required value: "
                f"must be specified when `operator` is 'In' or 'NotIn'"
            )


# --- template hash ----------------------------------------------------------------------------------------
_SAFE = "bcdfghjklmnpqrstvwxz2456789"  # upstream rand.SafeEncodeString alphabet


def canonical(template: dict) -> str:
    return json.dumps(template, sort_keys=True, separators=(",", ":"), default=str)


def template_hash(template: dict, collision_count: int = 0) -> str:
    """pod-template-hash: FNV-32a of the template (and collisionCount), spelled with SafeEncodeString."""
    h = 0x811C9DC5
    data = canonical(template).encode() + (str(collision_count).encode() if collision_count else b"")
    for b in data:
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return "".join(_SAFE[ord(c) % len(_SAFE)] for c in str(h))


# --- validation (API-server style; the message names the field) ---------------------------------------------
def check_int_or_percent(value: IntOrPercent, field: str, *, max_100: bool = False) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ControllerError(f"{field}: Invalid value: {value!r}: must be an integer or percentage")
    if isinstance(value, int):
        if value < 0:
            raise ControllerError(f"{field}: Invalid value: {value}: must be greater than or equal to 0")
        return
    if not (value.endswith("%") and value[:-1].isdigit()):
        raise ControllerError(
            f"{field}: Invalid value: {value!r}: a valid percent string must be a numeric "
            "string followed by an ending '%' (e.g. '10%')"
        )
    if max_100 and int(value[:-1]) > 100:
        raise ControllerError(f"{field}: Invalid value: {value!r}: must not be greater than 100%")


def check_rolling(strategy_field: str, max_surge: IntOrPercent, max_unavailable: IntOrPercent) -> None:
    check_int_or_percent(max_unavailable, f"{strategy_field}.maxUnavailable", max_100=True)
    check_int_or_percent(max_surge, f"{strategy_field}.maxSurge")
    if int_or_percent_value(max_surge) == 0 and int_or_percent_value(max_unavailable) == 0:
        raise ControllerError(
            f"{strategy_field}.maxUnavailable: Invalid value: {max_unavailable!r}: may not be 0 "
            "when `maxSurge` is 0"
        )


def check_non_negative(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ControllerError(f"{field}: Invalid value: {value!r}: must be an integer")
    if value < 0:
        raise ControllerError(f"{field}: Invalid value: {value}: must be greater than or equal to 0")
    return value


def parse_duration(value: Any, field: str) -> float:
    """Seconds from "300s", "5m", "1h30m", "1.5s" or a bare number (seconds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0:
        return float(value)
    s = str(value).strip()
    total, num = 0.0, ""
    units = {"h": 3600.0, "m": 60.0, "s": 1.0}
    try:
        if s and s.replace(".", "", 1).isdigit():
            return float(s)
        for ch in s:
            if ch.isdigit() or ch == ".":
                num += ch
            elif ch in units and num:
                total += float(num) * units[ch]
                num = ""
            else:
                raise ValueError
        if num or not s:
            raise ValueError
    except ValueError:
        raise ControllerError(
            f"{field}: Invalid value: {value!r}: a duration such as '300s', '5m' or '1h30m'"
        )
    return total


def steps_for(seconds: Optional[float], step_seconds: float) -> int:
    """Whole steps covering `seconds` (rounded up)."""
    return 0 if not seconds else int(math.ceil(seconds / step_seconds - 1e-9))
