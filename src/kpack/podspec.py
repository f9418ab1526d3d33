"""Pod spec tokens: one shared object per distinct spec (every Pod field but the name), cached on each Pod and
dropped on any change to it, so a call groups thousands of replicas by identity instead of comparing them."""
from __future__ import annotations

import copy
import operator
import weakref
from itertools import chain
from typing import Any, Optional

# Field values a token may hold as they are: immutable, so a Pod cannot change them in place.
SCALARS = (str, int, float, bool, type(None))
SCALAR_TYPES = frozenset(SCALARS)


class SpecToken:
    """The spec of one or more Pods: `sig` is the hashable signature; equal signatures share one token."""
    __slots__ = ("sig", "__weakref__")

    def __init__(self, sig: tuple):
        self.sig = sig


# Cached instead of a token when the Pod holds a value whose changes could go unseen (dropped like a token).
UNTRACKED = SpecToken(())

_owner_of = operator.attrgetter("owner")

_TOKENS: "weakref.WeakValueDictionary[tuple, SpecToken]" = weakref.WeakValueDictionary()


def drop(owner: Optional[weakref.ref]) -> None:
    """Forget the cached token of the Pod `owner` refers to (a container of it is about to change)."""
    pod = None if owner is None else owner()
    if pod is not None:
        object.__setattr__(pod, "_kp_spec", None)


def guarded(method):
    """`method` of a tracked container, dropping the owning Pod's spec token before it runs."""
    def run(self, *args, **kwargs):
        drop(getattr(self, "owner", None))
        return method(self, *args, **kwargs)
    run.__name__ = method.__name__
    return run


def tracked_type(base: type, mutators: tuple[str, ...], doc: str) -> type:
    """A `base` subclass owned by one Pod (slot `owner`, a weakref) whose `mutators` drop its spec token
    first. Copies and pickles are plain `base` objects, owned by no Pod, so a Pod holding one is never given a
    cached token."""
    ns = {name: guarded(getattr(base, name)) for name in mutators}
    ns.update(__slots__=("owner",), __doc__=doc,
              __reduce__=lambda self: (base, (base(self),)),
              __copy__=lambda self: base(self),
              __deepcopy__=lambda self, memo: copy.deepcopy(base(self), memo))
    return type(f"Tracked{base.__name__.capitalize()}", (base,), ns)


TrackedDict = tracked_type(
    dict, ("__setitem__", "__delitem__", "__ior__", "pop", "popitem", "clear", "setdefault", "update"),
    "A Pod's dict field: every change drops the Pod's spec token first.")
TrackedList = tracked_type(
    list, ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend", "insert", "pop",
           "remove", "clear", "sort", "reverse"),
    "A Pod's list field: every change drops the Pod's spec token first.")


def track(pod: Any, fields: tuple[str, ...]) -> None:
    """Make the Pod's dict and list fields tracked containers owned by it (at construction, before anyone
    else holds them), so changes made in place reach the Pod: defaults are built tracked (default_factory);
    validated values are copied into tracked ones."""
    d = pod.__dict__
    owner = weakref.ref(pod)
    for f in fields:
        v = d[f]
        t = type(v)
        if t is dict:
            v = d[f] = TrackedDict(v)
        elif t is list:
            v = d[f] = TrackedList(v)
        elif t is not TrackedDict and t is not TrackedList:
            continue
        v.owner = owner


def frozen_item(v: Any) -> tuple:
    """An element of a tracked list as an immutable equivalent: a scalar, or a frozen model of scalars."""
    if type(v) in SCALARS:
        return (v,)
    cfg = getattr(type(v), "model_config", None)
    if cfg and cfg.get("frozen") and set(map(type, v.__dict__.values())) <= SCALAR_TYPES:
        return (type(v), *v.__dict__.items())
    raise ValueError("not trackable")


def token(pod: Any, scalar_fields: Any, dict_fields: Any, list_fields: Any,
          fresh: Optional[Any] = None) -> Optional[SpecToken]:
    """The Pod's spec token, cached on it. `scalar_fields`, `dict_fields`, `list_fields`: itemgetters of the
    spec's fields (all but the name) on the Pod's field dict: other fields, dict fields, list fields. None:
    the Pod holds a value whose changes could go unseen (a node affinity model, a toleration, a container it
    does not own), so its spec is compared field by field. `fresh`: `track` has just run on the validated Pod
    (every container is its own and holds the validated scalar types), and `fresh` is the itemgetter of the
    scalar fields that may hold a model instead (they must be None)."""
    tok = getattr(pod, "_kp_spec", None)
    if tok is not None:
        return None if tok is UNTRACKED else tok
    object.__setattr__(pod, "_kp_spec", UNTRACKED)   # until a token is built below
    d = pod.__dict__
    scalars, dicts, lists = scalar_fields(d), dict_fields(d), list_fields(d)
    if fresh is not None:
        models = fresh(d)
        if models.count(None) != len(models):
            return None
    elif not set(map(type, scalars)) <= SCALAR_TYPES:
        return None
    if fresh is None:
        try:
            owners = list(map(_owner_of, dicts)) + list(map(_owner_of, lists))
        except AttributeError:         # a plain dict or list (assigned to the Pod, or a copy's)
            return None
        owner = owners[0]
        if owner() is not pod or owners.count(owner) != len(owners):
            return None
    if fresh is None and not set(map(type, chain.from_iterable(map(dict.values, dicts)))) <= SCALAR_TYPES:
        return None
    try:
        items = tuple(map(tuple, map(frozen_item, chain.from_iterable(lists)))) if any(lists) else ()
    except ValueError:
        return None
    # list contents are told apart by their lengths (the items are concatenated)
    sig = (scalars, tuple(map(tuple, map(dict.items, dicts))), tuple(map(len, lists)), items)
    tok = _TOKENS.get(sig)
    if tok is None:
        tok = _TOKENS[sig] = SpecToken(sig)
    object.__setattr__(pod, "_kp_spec", tok)
    return tok
