"""service/runtime/lifecycle.py: a version retired by a reload lives until its last lease ends."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from prometheus_client import CollectorRegistry

from service.core.metrics import build_metrics
from service.core.settings import Settings
from service.runtime.lifecycle import ModelManager


def test_a_retired_version_closes_only_when_its_last_lease_ends(
    models_dir: Path, tmp_path: Path
) -> None:
    async def scenario() -> list[bool]:
        manager = ModelManager(Settings(models_dir=models_dir), build_metrics(CollectorRegistry()))
        await manager.start()
        entry = manager.resolve("tiny", 2)
        seen = []
        async with manager.lease(entry), manager.lease(entry):  # two requests hold v2
            shutil.move(models_dir / "tiny" / "2", tmp_path / "parked")
            await manager.reload()  # v2 is retired
            seen.append(entry.retired)
            await asyncio.sleep(0)
            seen.append(entry.batcher is not None)  # both leases held: still open
        await asyncio.sleep(0.05)
        seen.append(entry.batcher is None)  # the last lease ended: closed
        await manager.close()
        return seen

    assert asyncio.run(scenario()) == [True, True, True]


def test_one_lease_of_two_ending_keeps_the_retired_version_open(
    models_dir: Path, tmp_path: Path
) -> None:
    async def scenario() -> tuple[bool, bool]:
        manager = ModelManager(Settings(models_dir=models_dir), build_metrics(CollectorRegistry()))
        await manager.start()
        entry = manager.resolve("tiny", 2)
        manager.acquire(entry)
        manager.acquire(entry)
        shutil.move(models_dir / "tiny" / "2", tmp_path / "parked")
        await manager.reload()
        manager.release(entry)  # one request done, one still holds it
        await asyncio.sleep(0.05)
        open_with_one = entry.batcher is not None
        manager.release(entry)
        await asyncio.sleep(0.05)
        closed_with_none = entry.batcher is None
        await manager.close()
        return open_with_one, closed_with_none

    assert asyncio.run(scenario()) == (True, True)
