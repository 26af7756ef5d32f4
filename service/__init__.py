"""HTTP serving of exported DCGAN generators (onnxruntime, no torch).

Top to bottom (a layer imports only the layers below it; the import-linter contracts
check it):

- ``__main__`` (``dcgan-serve``, ``python -m service``) and ``healthcheck``
  (``python -m service.healthcheck``): the commands;
- ``process``: the server process, the parent of several workers;
- ``http``: the ASGI app, its middleware, the guarded HTTP protocol;
- ``api``: the routes, one APIRouter per resource, and the one JSON error shape;
- ``runtime``: the model manager and a worker's side of the process tree;
- ``engine``: the shared inference engine process, its client and wire protocol;
- ``inference``: registry, micro-batching, rendering, the render pool, the response cache;
- ``core``: settings, logs, metrics, tracing, the shared folder: used by all of the above.
"""

__version__ = "0.1.0"
