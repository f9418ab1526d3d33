"""kube-scheduler HTTP extender (`kpack serve`): filter, prioritize, bind, preempt verbs and a node cache."""
from .cache import CacheError, NodeCache
from .extender import Extender, ExtenderError
from .wire import MAX_EXTENDER_PRIORITY, WireError, scaled_score

# The HTTP layer needs the `serve` extra (starlette, uvicorn); import it on first use so that the rest of
# kpack, and `kpack serve --help`, work without it.
_APP_NAMES = ("DEFAULT_HOST", "DEFAULT_MAX_BODY", "DEFAULT_PORT", "create_app", "serve", "uvicorn_config")


def __getattr__(name: str):
    if name in _APP_NAMES:
        from . import app
        return getattr(app, name)
    raise AttributeError(f"module 'kpack.server' has no attribute {name!r}")


__all__ = ["DEFAULT_HOST", "DEFAULT_MAX_BODY", "DEFAULT_PORT", "MAX_EXTENDER_PRIORITY", "CacheError",
           "Extender", "ExtenderError", "NodeCache", "WireError", "create_app", "scaled_score", "serve",
           "uvicorn_config"]
