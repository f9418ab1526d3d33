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


class ExtenderApp(Starlette):
    """Starlette, with the two verbs kube-scheduler calls per pod (POST /filter, /prioritize) answered
    straight from ASGI: no Request/Response objects or route matching on the hot path."""

    fast: dict[str, Callable[..., Any]] = {}

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        handler = self.fast.get(scope.get("path")) if scope["type"] == "http" and \
            scope.get("method") == "POST" else None
        if handler is None:
            await super().__call__(scope, receive, send)
        else:
            await handler(scope, receive, send)


def create_app(scheduler: Optional[Scheduler] = None, cluster: Optional[Cluster | NodeCache] = None, *,
               max_body: int = DEFAULT_MAX_BODY, extender: Optional[Extender] = None) -> Starlette:
    """The extender as an ASGI app. `cluster` seeds the node cache (a private copy of a kpack.Cluster, or a
    NodeCache used as is). `app.state.extender` is the Extender (its `.cache` is the node cache)."""
    ext = extender or Extender(scheduler, cluster)

    def run(fn: Callable[..., Any], call: Callable[[], Any], what: str, timing: list) -> tuple[int, bytes]:
        """The verb's answer as (status, JSON bytes); errors are answers too (4xx, or 500 for a bug: a bug
        must cost one request, never the server), as {"Error": message}: ExtenderFilterResult and
        ExtenderBindingResult carry an Error field, and kube-scheduler treats any non-200 as a failure.
        Server-Timing (W3C) says where kpack spent the request:
        reading the body, the verb (for filter and prioritize broken down by Extender.timing: parse, pod,
        cluster, explain) and encoding."""
        t = time.perf_counter()
        try:
            ext.timing = []
            result = call()
            timing.extend(ext.timing)   # inline on the event loop: nothing ran in between
            t1 = time.perf_counter()
            timing.append(("verb", t1 - t))
            data = result if isinstance(result, bytes) else dumps(result)
            timing.append(("encode", time.perf_counter() - t1))
            return 200, data
        except (WireError, ExtenderError) as e:
            return getattr(e, "status", 400), dumps({"Error": str(e)})
        except Exception as e:
            log.exception("%s failed", what)
            return 500, dumps({"Error": f"internal error: {type(e).__name__}: {e}"})

    def too_large() -> tuple[int, bytes]:
        return 413, dumps({"Error": f"request body larger than {max_body} bytes (kpack serve --max-body-mb)"})

    def timing_header(timing: list) -> str:
        return ", ".join(f"{k};dur={v * 1e3:.3f}" for k, v in timing)

    def endpoint(fn: Callable[..., Any], *, with_body: bool = True):
        async def handle(request: Request) -> Response:
            timing: list[tuple[str, float]] = []
            t = time.perf_counter()
            if with_body:
                try:
                    raw = await _body(request, max_body)
                except BodyTooLarge:
                    status, data = too_large()
                else:
                    timing.append(("read", time.perf_counter() - t))
                    status, data = run(fn, lambda: fn(raw), f"{request.method} {request.url.path}", timing)
            else:
                status, data = run(fn, lambda: fn(**request.path_params),
                                   f"{request.method} {request.url.path}", timing)
            response = Response(data, status_code=status, media_type="application/json")
            response.headers["server-timing"] = timing_header(timing)
            return response
        return handle

    def raw_endpoint(fn: Callable[[bytes], bytes]):
        async def handle(scope: dict, receive: Callable, send: Callable) -> None:
            timing: list[tuple[str, float]] = []
            t = time.perf_counter()
            length = next((v for k, v in scope["headers"] if k == b"content-length"), None)
            chunks, size, more = [], 0, True
            if length is not None and length.isdigit() and int(length) > max_body:
                status, data = too_large()
            else:
                while more:
                    msg = await receive()
                    if msg["type"] == "http.disconnect":
                        return
                    chunk = msg.get("body", b"")
                    size += len(chunk)
                    if size > max_body:
                        break
                    chunks.append(chunk)
                    more = msg.get("more_body", False)
                if more:
                    status, data = too_large()
                else:
                    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                    timing.append(("read", time.perf_counter() - t))
                    status, data = run(fn, lambda: fn(raw), f"POST {scope['path']}", timing)
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"application/json"),
                                    (b"content-length", str(len(data)).encode()),
                                    (b"server-timing", timing_header(timing).encode())]})
            await send({"type": "http.response.body", "body": data})
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
    app = ExtenderApp(routes=routes)
    # the same verbs as the /filter and /prioritize routes above (which serve other methods' 405s)
    app.fast = {"/filter": raw_endpoint(ext.filter_json), "/prioritize": raw_endpoint(ext.prioritize_json)}
    app.state.extender = ext
    return app


def uvicorn_config(app: Starlette, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *,
                   log_level: str = "warning", access_log: bool = False, **kw: Any):
    """The uvicorn.Config `serve` runs `app` with: uvicorn's own protocols (httptools when installed), and no
    proxy-headers middleware (kpack never reads the client's address; it would be one more ASGI layer on
    every request)."""
    import uvicorn
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log, workers=1,
                          proxy_headers=False, **kw)


def serve(app: Starlette, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, *, log_level: str = "warning",
          access_log: bool = False) -> None:
    """Run `app` under uvicorn until interrupted (one process: the node cache lives in memory)."""
    import uvicorn
    server = uvicorn.Server(uvicorn_config(app, host, port, log_level=log_level, access_log=access_log))
    try:
        server.run()
    except KeyboardInterrupt:   # as uvicorn.run
        pass
    if not server.started:   # as uvicorn.run: the port was taken, or startup failed (uvicorn logged why)
        raise SystemExit(3)
