"""The extender over HTTP: a Starlette ASGI app (`create_app`) served by uvicorn (`serve`)."""
from __future__ import annotations

import logging
import time
from typing import Any, Callable, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from ..scheduler import Scheduler
from ..state import Cluster
from .cache import NodeCache
from .extender import Extender, ExtenderError
from .wire import WireError, dumps

DEFAULT_HOST = "127.0.0.1"   # loopback only unless asked: the extender API has no authentication
DEFAULT_PORT = 8888
DEFAULT_MAX_BODY = 64 * 1024 * 1024   # 5,000 real Node objects are ~10-25 MB of JSON
log = logging.getLogger("kpack.server")


class BodyTooLarge(Exception):
    pass


def _json(obj: Any, status: int = 200) -> Response:
    # filter and prioritize answer with the JSON bytes themselves (Extender.filter_json, prioritize_json)
    data = obj if isinstance(obj, bytes) else dumps(obj)
    return Response(data, status_code=status, media_type="application/json")


def _error(message: str, status: int) -> Response:
    # ExtenderFilterResult and ExtenderBindingResult carry an Error field; kube-scheduler also treats any
    # non-200 answer as the extender failing, so both say what went wrong.
    return _json({"Error": message}, status)


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise BodyTooLarge()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(scheduler: Optional[Scheduler] = None, cluster: Optional[Cluster | NodeCache] = None, *,
               max_body: int = DEFAULT_MAX_BODY, extender: Optional[Extender] = None) -> Starlette:
    """The extender as an ASGI app. `cluster` seeds the node cache (a private copy of a kpack.Cluster, or a
    NodeCache used as is). `app.state.extender` is the Extender (its `.cache` is the node cache)."""
    ext = extender or Extender(scheduler, cluster)

    def endpoint(fn: Callable[..., Any], *, with_body: bool = True):
        async def handle(request: Request) -> Response:
            timing: list[tuple[str, float]] = []
            response = await answer(request, timing)
            # Server-Timing (W3C) says where kpack spent the request: reading the body, the verb (for filter
            # and prioritize broken down by Extender.timing: parse, pod, cluster, explain) and encoding.
            response.headers["server-timing"] = ", ".join(f"{k};dur={v * 1e3:.3f}" for k, v in timing)
            return response

        async def answer(request: Request, timing: list) -> Response:
            t = time.perf_counter()

            def lap(name: str) -> None:
                nonlocal t
                now = time.perf_counter()
                timing.append((name, now - t))
                t = now

            try:
                if with_body:
                    raw = await _body(request, max_body)
                    lap("read")
                    ext.timing = []
                    result = fn(raw)   # the verb decodes the JSON itself: NodeLists stay raw where they can
                    timing.extend(ext.timing)   # inline on the event loop: nothing ran in between
                else:
                    result = fn(**request.path_params)
                lap("verb")
            except BodyTooLarge:
                return _error(f"request body larger than {max_body} bytes (kpack serve --max-body-mb)", 413)
            except (WireError, ExtenderError) as e:
                return _error(str(e), getattr(e, "status", 400))
            except Exception as e:   # a bug must cost one request, never the server
                log.exception("%s %s failed", request.method, request.url.path)
                return _error(f"internal error: {type(e).__name__}: {e}", 500)
            response = _json(result)
            lap("encode")
            return response
        return handle

    async def health(request: Request) -> Response:
        return Response(b"ok", media_type="text/plain")

    async def state(request: Request) -> Response:
        return _json(ext.state())

    routes = [
        Route("/filter", endpoint(ext.filter_json), methods=["POST"]),
        Route("/prioritize", endpoint(ext.prioritize_json), methods=["POST"]),
        Route("/bind", endpoint(ext.bind), methods=["POST"]),
        Route("/preempt", endpoint(ext.preempt), methods=["POST"]),
        Route("/nodes", endpoint(ext.put_nodes), methods=["POST"]),
        Route("/nodes", endpoint(ext.replace_nodes), methods=["PUT"]),
        Route("/nodes/{name}", endpoint(ext.remove_node, with_body=False), methods=["DELETE"]),
        Route("/pods", endpoint(ext.put_pods), methods=["POST"]),
        Route("/pods", endpoint(ext.replace_pods), methods=["PUT"]),
        Route("/pods/{namespace}/{name}", endpoint(ext.remove_pod, with_body=False), methods=["DELETE"]),
        Route("/healthz", health, methods=["GET"]),
        Route("/state", state, methods=["GET"]),
    ]
    app = Starlette(routes=routes)
    app.state.extender = ext
    return app


def serve(app: Starlette, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, log_level: str = "warning",
          access_log: bool = False) -> None:
    """Run `app` under uvicorn until interrupted (one process: the node cache lives in memory)."""
    import uvicorn
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log, workers=1)
