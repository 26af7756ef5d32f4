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

May import ``contract`` and the service's registry, settings and metrics; the HTTP layer
(``service.api``) imports none of it directly (the model manager does).
"""
