"""The parent's side of the shared engine: start it, restart it, and kill it when it stalls.

``EngineSupervisor.start`` runs ``python -m service.engine`` and waits until it serves (or
exits: DCGAN_REQUIRE_CUDA without CUDA is a start-up error, exit code 2). A thread then
watches it:

- **exited or killed**: it is started again at once; when it keeps dying young the delay
  doubles (0.5 s up to 10 s), so a broken GPU does not become a busy loop. The workers see
  their connections close, answer every waiting request with a JSON 503, report the reason
  on /readyz, and reconnect when the new engine listens;
- **stalled** (the watchdog): its heartbeat is older than ``DCGAN_ENGINE_WATCHDOG_S``, or
  one batch has run longer than that (a stuck GPU kernel, a SIGSTOP): it is killed with
  SIGKILL, which is then the case above.

``stop`` closes the engine's standard input, its signal to finish (see the engine's
docstring), after the workers are gone, and kills it if it does not exit in time.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time

from service.core.settings import Settings
from service.engine.engine import EXIT_PROVIDER, GENERATION_ENV, Heartbeat
from service.engine.wire import STOP

log = logging.getLogger("service.engine")
POLL_S = 0.1
BACKOFF_MIN_S, BACKOFF_MAX_S = 0.5, 10.0
YOUNG_S = 10.0  # an engine that dies sooner than this after its start delays the next one


class EngineFailed(RuntimeError):
    def __init__(self, code: int) -> None:
        super().__init__(f"the inference engine exited with code {code} while starting")
        self.code = code


class EngineSupervisor:
    def __init__(self, settings: Settings, address: str) -> None:
        self.settings, self.address = settings, address
        self.generation = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self.heartbeat: Heartbeat | None = None
        self._started_at = 0.0
        self._backoff = 0.0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.restarts = 0

    def _spawn(self) -> None:
        self.generation += 1
        if self.heartbeat is not None:
            self.heartbeat.close()
        self.heartbeat = beat = Heartbeat.create()  # state 0: loading
        env = {**os.environ, GENERATION_ENV: str(self.generation)}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "service.engine", self.address, str(beat.fd)],
            stdin=subprocess.PIPE,
            env=env,
            pass_fds=(beat.fd,),
        )
        self._started_at = time.monotonic()
        log.info("inference engine %d started (pid %d)", self.generation, self.proc.pid)

    @property
    def serving(self) -> bool:
        return self.heartbeat is not None and self.heartbeat.read()[2] == 1.0

    def start(self) -> None:
        """Start the engine and return once it serves; EngineFailed if it exits first."""
        self._spawn()
        assert self.proc is not None
        while not self.serving:
            code = self.proc.poll()
            if code is not None:
                raise EngineFailed(code)
            time.sleep(0.05)
        self._thread = threading.Thread(target=self._watch, name="engine-watch", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            assert self.proc is not None and self.heartbeat is not None
            code = self.proc.poll()
            if code is not None:
                self._restart(code)
                continue
            problem = self.stalled(time.monotonic())
            if problem:
                log.error(
                    "inference engine %d (pid %d) %s (DCGAN_ENGINE_WATCHDOG_S=%g): killing it",
                    self.generation,
                    self.proc.pid,
                    problem,
                    self.settings.engine_watchdog_s,
                )
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)

    def stalled(self, now: float) -> str | None:
        """Why the running engine counts as stuck, or None."""
        assert self.heartbeat is not None
        beat, batch, state = self.heartbeat.read()
        limit = self.settings.engine_watchdog_s
        if state != 1.0:
            return None  # loading models: that takes as long as it takes
        if batch and now - batch > limit:
            return f"has run one batch for {now - batch:.1f} s"
        if now - beat > limit:
            return f"has not beaten for {now - beat:.1f} s"
        return None

    def _restart(self, code: int) -> None:
        assert self.proc is not None
        young = time.monotonic() - self._started_at < YOUNG_S
        self._backoff = min(BACKOFF_MAX_S, max(BACKOFF_MIN_S, self._backoff * 2)) if young else 0
        how = f"was killed by signal {-code}" if code < 0 else f"exited with code {code}"
        log.error(
            "inference engine %d (pid %d) %s: starting a new one%s",
            self.generation,
            self.proc.pid,
            how,
            f" in {self._backoff:g} s" if self._backoff else "",
        )
        if code == EXIT_PROVIDER:
            log.error("the engine's own message above says why (a start-up error)")
        if self._backoff and self._stop.wait(self._backoff):
            return
        self.restarts += 1
        self._spawn()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.proc is None:
            return
        if self.proc.stdin is not None:
            # the engine's signal to finish, and to leave the shared folder to this parent
            with contextlib.suppress(OSError):
                self.proc.stdin.write(STOP)
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        try:
            self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.heartbeat is not None:
            self.heartbeat.close()
