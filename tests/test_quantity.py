"""Kubernetes quantity parsing: suffixes, exponents, rounding as upstream."""
import pytest

from kpack.quantity import QuantityError, int_value, milli_value, resource_value


@pytest.mark.parametrize("q, milli, value", [
    ("500m", 500, 1), ("1.5", 1500, 2), ("2Gi", 2 * 2**30 * 1000, 2 * 2**30), ("1e3", 10**6, 1000),
    ("128974848", 128974848000, 128974848), ("129M", 129 * 10**9, 129 * 10**6), ("0.0001", 1, 1),
    ("1Ki", 1024000, 1024), (".5", 500, 1), ("5E2", 500000, 500), ("1k", 10**6, 1000),
    ("1Ei", 2**60 * 1000, 2**60), ("100n", 1, 1), ("3u", 1, 1), (0, 0, 0), (4, 4000, 4),
    ("2P", 2 * 10**18, 2 * 10**15), ("1e-3", 1, 1),
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
