"""The service's cross-cutting leaves, which every other part may import.

- ``settings``: every DCGAN_* knob (``Settings``);
- ``logs``: the logging configuration every process shares;
- ``metrics``: the Prometheus series (``build_metrics``, ``build_engine_metrics``) and the
  ``/metrics`` body;
- ``tracing``: OpenTelemetry traces, off unless OTEL_EXPORTER_OTLP_ENDPOINT is set;
- ``multiproc``: the folder the processes of one ``dcgan-serve`` share, its layout and its
  clean-up.

Imports only ``contract`` and third-party packages: nothing else of ``service``.
"""
