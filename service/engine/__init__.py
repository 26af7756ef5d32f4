"""The shared inference engine: one process per device that owns every onnxruntime session
and serves the batches of every HTTP worker (``DCGAN_ENGINE=shared``).

- ``wire``: the transport, a Unix socket per connection and a shared-memory segment per
  data channel (latents in, uint8 pixels out; one small message per batch each way);
- ``engine``: the engine process (``python -m service.engine``): loads the models, merges
  the batches that arrive together from all workers into one run, pushes registries;
- ``client``: the worker's side: the control link (registry, reloads, readiness) and the
  data channels its batchers run through;
- ``supervise``: the parent's side: starts the engine, restarts it when it dies, and kills
  it when its heartbeat or a batch stalls (the watchdog);
- ``mode``: which engine ``auto`` picks, and why.

May import ``service.inference`` (the registry, the folder watch), ``service.core`` and
``contract``; never the model manager, the HTTP layers or process management. Its users:
the model manager (``service.runtime``: the client and the remote registry), the routes
(``service.api``: only ``client.EngineUnavailable``), the server (``service.process``:
``supervise``, ``wire``) and the entry point (``mode``).
"""
