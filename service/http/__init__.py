"""The HTTP server's own layers around the routes.

- ``app``: ``create_app``, the ASGI app: the routers of ``service.api``, the middleware, the
  model manager; uvicorn's factory is ``service.http.app:create_app``;
- ``middleware``: the outermost ASGI layer: request id, body cap, hot routes, metrics, the
  access log, the request's trace span;
- ``protocols``: uvicorn's HTTP protocol guarded against idle and slow connections.

May import ``service.api`` and everything below it; only process management
(``service.process``) and the entry point import it.
"""
