"""Kubernetes quantity parsing: suffixes, exponents, rounding as upstream."""
import re

import pytest

from kpack.quantity import QuantityError, int_value, milli_value, resource_value


@pytest.mark.parametrize("q, milli, value", [
    ("500m", 500, 1), ("1.5", 1500, 2), ("2Gi", 2 * 2**30 * 1000, 2 * 2**30), ("1e3", 10**6, 1000),
    ("128974848", 128974848000, 128974848), ("129M", 129 * 10**9, 129 * 10**6), ("0.0001", 1, 1),
    ("1Ki", 1024000, 1024), (".5", 500, 1), ("5E2", 500000, 500), ("1k", 10**6, 1000),
    ("1Ei", 2**60 * 1000, 2**60), ("100n", 1, 1), ("3u", 1, 1), (0, 0, 0), (4, 4000, 4),
    ("2P", 2 * 10**18, 2 * 10**15), ("1e-3", 1, 1), ("1E", 10**21, 10**18),
])
def test_parse(q, milli, value):
    assert milli_value(q) == milli
    assert int_value(q) == value


def test_cpu_uses_millicores_others_value():
    assert resource_value("cpu", "250m") == 250
    assert resource_value("memory", "1Mi") == 2**20
    assert resource_value("nvidia.com/gpu", 2) == 2


@pytest.mark.parametrize("bad",
                         ["", "abc", "1.2.3", "5Kb", "1 Gi", "--1", "1e", True, None, [1], float("nan")])
def test_bad_quantities(bad):
    with pytest.raises(QuantityError):
        milli_value(bad)


def test_int64_overflow_rejected():
    with pytest.raises(QuantityError, match="overflows int64"):
        resource_value("memory", "16Ei")


def test_integer_path_matches_fraction_path():
    """milli_value / int_value / is_whole take plain spellings ("250m", "128Mi", 7) with integers only: they
    must agree with the exact Fraction path (parse_quantity) on every input, and fail the same way."""
    import random

    from kpack.quantity import _ceil, is_whole, milli_value, parse_quantity

    rng = random.Random(13)
    suffixes = ["", "n", "u", "m", "k", "M", "G", "T", "P", "E", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "K",
                "e3", "i", "mi"]
    samples: list = [0, 1, 7, -3, 2**62, True, 1.5, None, "", " 5", "5 ", "+5", "-5m", ".5", "5.", "0.5Gi",
                     "1" * 31 + "m", "1" * 30 + "m", "0" * 29 + "1n", "00100m"]
    for _ in range(3000):
        digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(1, 32)))
        samples.append(digits + rng.choice(suffixes))
        samples.append(rng.randint(0, 10**rng.randint(1, 25)))
    for q in samples:
        for fast, slow in ((lambda: milli_value(q), lambda: _ceil(parse_quantity(q) * 1000)),
                           (lambda: int_value(q), lambda: _ceil(parse_quantity(q))),
                           (lambda: is_whole(q), lambda: parse_quantity(q).denominator == 1)):
            try:
                want = slow()
            except QuantityError as e:
                with pytest.raises(QuantityError, match=re.escape(str(e))):
                    fast()
                continue
            assert fast() == want, q
