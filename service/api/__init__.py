"""The HTTP routes: one APIRouter per resource, and what they share.

``generate``, ``interpolate``, ``inference_protocol``, ``files``, ``operations``, ``admin``,
``docs`` and ``web`` are the resources; ``fastpath`` serves the hot routes without FastAPI's
router; ``deps``, ``auth``, ``lookup``, ``responses`` and ``limits_doc`` are what the routes
share; ``errors`` is the one JSON error shape every error gets, also used by the app's
middleware and protocol (``service.http``).

May import ``service.runtime`` (the model manager), ``service.engine``,
``service.inference`` and ``service.core``; never ``service.http`` or ``service.process``.
"""
