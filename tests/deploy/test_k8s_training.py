"""deploy/k8s/training: the Job's torchrun arguments, run here as two "nodes" on loopback.

The same rendezvous (c10d, --nnodes=2, --rdzv-id) and the same `-m training train`, with
what only a cluster has swapped out: the endpoint becomes 127.0.0.1, one CPU process per
node instead of every GPU, and a 3-step dry run instead of the Simpsons data.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from testkit.servers import free_port
from tests.deploy.test_k8s import K8S, kustomize
from tests.helpers import TINY_DRY_RUN


def job_arguments() -> list[str]:
    docs = [d for d in yaml.safe_load_all(kustomize(K8S / "training")) if d]
    (job,) = [d for d in docs if d["kind"] == "Job"]
    (c,) = job["spec"]["template"]["spec"]["containers"]
    assert c["command"] == ["torchrun"]
    return list(c["args"])


def on_loopback(args: list[str], port: int, run_dir: Path) -> list[str]:
    """The Job's torchrun options with the endpoint and process count made local, and the
    training options after `-m training train` replaced by a tiny dry run."""
    i = args.index("-m")
    assert args[i + 1 : i + 3] == ["training", "train"]
    options = []
    for arg in args[:i]:
        if arg.startswith("--rdzv-endpoint="):
            arg = f"--rdzv-endpoint=127.0.0.1:{port}"
        elif arg.startswith("--nproc-per-node="):
            arg = "--nproc-per-node=1"
        options.append(arg)
    return [*options, "-m", "training", "train", *TINY_DRY_RUN, "--run-dir", str(run_dir)]


@pytest.mark.slow
def test_the_job_s_torchrun_rendezvous_trains_across_two_nodes(tmp_path: Path) -> None:
    args = job_arguments()
    assert "--nnodes=2" in args
    torchrun = str(Path(sys.executable).with_name("torchrun"))
    command = [torchrun, *on_loopback(args, free_port(), tmp_path / "run")]
    # two "nodes", started apart like two pods; c10d assigns their ranks
    nodes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outputs = [node.communicate(timeout=300) for node in nodes]
    for node, (_, err) in zip(nodes, outputs, strict=True):
        assert node.returncode == 0, err[:3000] + "\n...\n" + err[-1500:]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["device"] == "cpu x2"  # one world of two processes, one per node
    assert record["batch_size"] == 16  # --batch-size is per process
    # only global rank 0 reports and writes
    assert sum(out.count("steps (") for out, _ in outputs) == 1
