"""Process management: how ``dcgan-serve`` runs.

- ``server``: uvicorn configured from the settings: one process, or a parent with
  DCGAN_WORKERS workers, and with DCGAN_ENGINE=shared the engine process beside them
  (started through ``service.engine.supervise``);
- ``supervisor``: the parent of several workers, safe to stop, to kill and to leave running.

The top of the service: may import everything else in it (the app as a factory string);
only the entry point (``service.__main__``) imports it.
"""
