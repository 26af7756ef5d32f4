"""The inference path inside one process: from a models folder to response bodies.

- ``registry``: discovers ``models/<name>/<version>/``, validates each version and opens its
  onnxruntime session (``Registry``, ``ModelVersion``);
- ``model_watch``: DCGAN_WATCH, the watch on the models folder that triggers reloads;
- ``batching``: the micro-batcher, many requests in one onnxruntime run (``MicroBatcher``,
  ``Job``);
- ``rendering``: generator output to PNG/WebP/GIF/JSON bodies, and the size checks;
- ``render_pool``: the bounded, cancellable pool heavy renders run in;
- ``cache``: seeded responses by ETag.

May import ``service.core`` and ``contract``; never the engine process, the HTTP layers
(``service.api``, ``service.http``) or process management.
"""
