"""``python -m service.engine SOCKET HEARTBEAT``: the shared engine (service.engine.engine)."""

from service.engine.engine import main

main()
