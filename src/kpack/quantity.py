"""Kubernetes resource quantities: parse `500m`, `2Gi`, `1e3`, ... into exact integers as upstream does."""
from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from fractions import Fraction
from typing import Optional

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Fraction(1, 10**9), "u": Fraction(1, 10**6), "m": Fraction(1, 1000), "": Fraction(1),
            "k": Fraction(10**3), "M": Fraction(10**6), "G": Fraction(10**9), "T": Fraction(10**12),
            "P": Fraction(10**15), "E": Fraction(10**18)}
# Upstream grammar: <signedNumber><suffix>, suffix = binarySI | decimalSI | decimalExponent (e/E<signed int>).
_QUANTITY = re.compile(r"^([+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
                       r"((?:[eE][+-]?[0-9]+)|Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)$")


# The common spellings ("250m", "128Mi", "2", "10G"): up to 30 digits and a binary or decimal suffix, no
# sign, point, exponent or spaces. Their value is digits x (num / den) in integers: no Fraction, no Decimal.
_PLAIN = re.compile(r"([0-9]{1,30})(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]?)")
_PLAIN_SCALE = {**{k: (v, 1) for k, v in _BINARY.items()},
                **{k: (v.numerator, v.denominator) for k, v in _DECIMAL.items()}}


class QuantityError(ValueError):
    """A string that is not a Kubernetes quantity."""


def parse_quantity(value: object) -> Fraction:
    """Exact value of a quantity (`"1.5Gi"`, `"100m"`, `3`, `"1e3"`) as a Fraction."""
    if isinstance(value, bool):
        raise QuantityError(f"quantity must be a number or string, got {value!r}")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise QuantityError(f"quantity must be finite, got {value!r}")
        return Fraction(Decimal(repr(value)))
    if not isinstance(value, str):
        raise QuantityError(f"quantity must be a number or string, got {value!r}")
    m = _QUANTITY.fullmatch(value.strip())
    if not m or not value.strip():
        raise QuantityError(f"quantities must match the regular expression "
                            f"'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$', got {value!r}")
    number, suffix = m.groups()
    try:
        base = Fraction(Decimal(number))
    except InvalidOperation as e:  # pragma: no cover - the regex already guards this
        raise QuantityError(f"invalid quantity {value!r}") from e
    if suffix in _BINARY:
        return base * _BINARY[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":   # an exponent; "E" alone is exa
        exp = int(suffix[1:])
        if abs(exp) > 60:
            raise QuantityError(f"quantity exponent out of range in {value!r}")
        return base * Fraction(10) ** exp
    return base * _DECIMAL[suffix]


def _ceil(x: Fraction) -> int:
    return -((-x.numerator) // x.denominator)


def _scaled(value: object, times: int) -> Optional[int]:
    """ceil(value x times) for an int or a plain quantity string (see _PLAIN), exactly as
    `_ceil(parse_quantity(value) * times)`; None for every other input (that path decides)."""
    if type(value) is int:
        return value * times
    if type(value) is str:
        m = _PLAIN.fullmatch(value)
        if m is not None:
            num, den = _PLAIN_SCALE[m.group(2)]
            return -((-int(m.group(1)) * num * times) // den)
    return None


def milli_value(value: object) -> int:
    """Quantity.MilliValue(): thousandths, rounded up (used for cpu)."""
    fast = _scaled(value, 1000)
    return fast if fast is not None else _ceil(parse_quantity(value) * 1000)


def int_value(value: object) -> int:
    """Quantity.Value(): base units, fractions rounded up (memory, storage, counts)."""
    fast = _scaled(value, 1)
    return fast if fast is not None else _ceil(parse_quantity(value))


def is_whole(value: object) -> bool:
    """Whether the quantity is a whole number of base units (parse_quantity(value).denominator == 1)."""
    if type(value) is int:
        return True
    m = _PLAIN.fullmatch(value) if type(value) is str else None
    if m is not None:
        num, den = _PLAIN_SCALE[m.group(2)]
        return int(m.group(1)) * num % den == 0
    return parse_quantity(value).denominator == 1


def resource_value(name: str, value: object) -> int:
    """The int64 kpack stores for resource `name`: millicores for cpu, Value() for everything else."""
    v = milli_value(value) if name == "cpu" else int_value(value)
    if not -(2**63) <= v < 2**63:
        raise QuantityError(f"quantity {value!r} overflows int64")
    return v
