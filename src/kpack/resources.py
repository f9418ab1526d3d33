"""Resource names: which ones are native, scalar or extended, and the fixed column order kpack uses."""
from __future__ import annotations

CPU, MEMORY, EPHEMERAL, PODS = "cpu", "memory", "ephemeral-storage", "pods"
# Fixed leading columns of every resource matrix; scalar resources follow in sorted order.
BASE_RESOURCES = (CPU, MEMORY, EPHEMERAL, PODS)
COL_CPU, COL_MEMORY, COL_EPHEMERAL, COL_PODS = 0, 1, 2, 3
# The kernels report a node's NodeResourcesFit failures as one int64 bitmask: one bit per column.
MAX_RESOURCE_COLUMNS = 64

DEFAULT_MILLI_CPU_REQUEST = 100                 # upstream DefaultMilliCPURequest
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024      # upstream DefaultMemoryRequest ("200 MB")


def is_prefixed_native(name: str) -> bool:
    return "kubernetes.io/" in name


def is_native(name: str) -> bool:
    return "/" not in name or is_prefixed_native(name)


def is_extended(name: str) -> bool:
    """Extended resources (`nvidia.com/gpu`): qualified, outside kubernetes.io, not `requests.*`."""
    return not is_native(name) and not name.startswith("requests.")


def is_hugepages(name: str) -> bool:
    return name.startswith("hugepages-")


def is_scalar(name: str) -> bool:
    """upstream IsScalarResourceName: extended, hugepages, kubernetes.io/-prefixed or attachable volumes."""
    return (is_extended(name) or is_hugepages(name) or is_prefixed_native(name)
            or name.startswith("attachable-volumes-"))


def container_resource_error(name: str) -> str | None:
    """Why the API server rejects `name` in a container's requests (validateContainerResourceName), or None.

    Unprefixed names must be standard container resources (cpu, memory, ephemeral-storage, hugepages-*);
    `kubernetes.io/`-prefixed names are native and allowed (and scalar: the fit filter checks them);
    other prefixed names must be extended resource names.
    """
    if "/" not in name:
        if name in (CPU, MEMORY, EPHEMERAL) or is_hugepages(name):
            return None
        return "must be a standard resource for containers (cpu, memory, ephemeral-storage, hugepages-*)"
    if is_prefixed_native(name) or is_extended(name):
        return None
    return "doesn't follow extended resource name standard"


def is_container_resource(name: str) -> bool:
    """Names the API server accepts in a container's requests."""
    return container_resource_error(name) is None
