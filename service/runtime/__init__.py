"""What keeps a running server's models current, in each process that answers requests.

- ``lifecycle``: ``ModelManager``, the served models' whole lifecycle: start, reload, lease,
  retire, close; in process, or through the shared engine's client (``service.engine``);
- ``workers``: a worker's side of DCGAN_WORKERS > 1: the reload signal between workers,
  following the parent, draining on SIGTERM.

May import ``service.engine``, ``service.inference`` and ``service.core``; the routes
(``service.api``) and the app (``service.http``) import it, never the other way round.
"""
