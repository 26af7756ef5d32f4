"""Where training runs: the torchrun process group, each rank's device, AMP, the machine.

``torchrun`` sets WORLD_SIZE/RANK/LOCAL_RANK; the same command then trains with DDP. Start
the process group with the context manager, which always destroys the group it created::

    with distributed() as dist:
        device = pick_device("auto", dist)
        ...
"""

from __future__ import annotations

import contextlib
import os
import platform
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def setup_distributed() -> Dist:
    """Start the process group when WORLD_SIZE > 1 and leave it open: the caller destroys
    it. Prefer ``distributed()``, which does."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    import torch.distributed as tdist

    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    backend = "nccl" if torch.cuda.is_available() else "gloo"
    tdist.init_process_group(backend)
    return Dist(tdist.get_rank(), world, local_rank)


@contextlib.contextmanager
def distributed() -> Iterator[Dist]:
    """``setup_distributed()`` whose process group is destroyed on leaving the block, also
    when the block raises (a data set too small, a bad flag): a failed start never leaves
    a group open. Without WORLD_SIZE > 1 it creates no group and destroys nothing.

    Leaving does not synchronise the ranks: call ``torch.distributed.barrier()`` at the end
    of a successful block (a rank that tears gloo down while its peer is still connected
    can abort); on a failure there is nothing to wait for.
    """
    dist = setup_distributed()
    try:
        yield dist
    finally:
        if dist.world > 1:
            import torch.distributed as tdist

            if tdist.is_initialized():
                tdist.destroy_process_group()


def pick_device(requested: str, dist: Dist) -> torch.device:
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda", dist.local_rank)
        return torch.device("cpu")
    device = torch.device(requested)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda requested but CUDA is not available")
    return device


def amp_dtype(setting: str, device: torch.device) -> torch.dtype | None:
    """Mixed precision only on CUDA: bf16 where supported (no loss scaling needed), else fp16."""
    if setting == "off" or device.type != "cuda":
        return None
    if setting == "fp16":
        return torch.float16
    if setting == "bf16" or torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float16


def unwrap(module: nn.Module) -> nn.Module:
    """The plain module inside DDP and/or torch.compile wrappers."""
    inner = getattr(module, "module", module)  # DDP
    return getattr(inner, "_orig_mod", inner)  # torch.compile


def machine_description(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)}, {platform.node()}"
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return f"{cpu}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads"
