"""What the Ray executor checks about the cluster it joined (Ray is imported by the caller).

* :func:`alive_nodes` / :func:`describe_cluster`: the nodes, CPUs, GPUs and memory it has.
* :func:`unschedulable`: why no node can hold one asset's task (None when one can).
* :func:`check_shared_output`: every node sees the driver's local output folder, or the run is
  refused (outputs written on node-local disks would be invisible to the driver).
* :func:`infra_reason`: whether a Ray error means the infrastructure failed (node, object or
  owner gone) rather than the asset.
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from .config import ConfigError

MB = 2**20
TOKEN_PREFIX = ".meshprep-shared-check-"


@dataclass(frozen=True)
class Request:
    """What one asset's task asks the scheduler for."""

    cpus: float
    memory_mb: float
    gpus: float


def alive_nodes(ray) -> list[dict]:
    """``ray.nodes()`` entries of the nodes that are alive."""
    return [node for node in ray.nodes() if node.get("Alive")]


def dead_node_ids(ray) -> set[str]:
    """Ids of the nodes the cluster has lost."""
    return {node["NodeID"] for node in ray.nodes() if not node.get("Alive")}


def describe_cluster(nodes: list[dict]) -> str:
    """``"Ray cluster: 2 nodes, 4 CPUs, 0 GPUs, 11.5 GiB memory"``."""
    total = {key: sum(n.get("Resources", {}).get(key, 0.0) for n in nodes)
             for key in ("CPU", "GPU", "memory")}
    return (f"Ray cluster: {len(nodes)} node{'s' * (len(nodes) != 1)}, {total['CPU']:g} CPUs, "
            f"{total['GPU']:g} GPUs, {total['memory'] / 2**30:.1f} GiB memory")


def unschedulable(nodes: list[dict], request: Request) -> str | None:
    """Why no alive node can ever run a task of ``request`` (None when one can).

    Compares the request with each node's total resources (not what is free now: a busy node
    frees its resources as tasks finish).
    """
    wanted = {"CPU": request.cpus, "memory": request.memory_mb * MB, "GPU": request.gpus}
    fits = [all(n.get("Resources", {}).get(k, 0.0) >= v for k, v in wanted.items() if v > 0)
            for n in nodes]
    if any(fits):
        return None
    if not nodes:
        return "the Ray cluster has no alive node"
    missing = [k for k, v in wanted.items()
               if v > 0 and max(n.get("Resources", {}).get(k, 0.0) for n in nodes) < v]
    best = {k: max(n.get("Resources", {}).get(k, 0.0) for n in nodes) for k in wanted}
    shown = {"CPU": f"{best['CPU']:g} CPU", "GPU": f"{best['GPU']:g} GPU",
             "memory": f"{best['memory'] / MB:.0f} MB memory"}
    return (f"no node of the Ray cluster can run an asset's task: it asks for "
            f"{request.cpus:g} CPU, {request.memory_mb:.0f} MB memory, {request.gpus:g} GPU; "
            f"missing {', '.join(missing) or 'a node holding all of them at once'} (largest "
            f"node: {', '.join(shown[k] for k in missing) or 'see ray status'}); lower "
            "[limits] memory_request_mb or add nodes that have it")


def read_token(path: str) -> str | None:
    """The token file's text as this node sees it (None when it is not there)."""
    try:
        with open(path, encoding="utf-8") as stream:
            return stream.read()
    except OSError:
        return None


def nodes_not_seeing(ray, path: str, token: str, nodes: list[dict],
                     timeout_s: float = 60.0) -> list[str]:
    """Addresses of the nodes on which ``path`` does not hold ``token``.

    One zero-CPU task pinned to each node (``NodeAffinitySchedulingStrategy``) reads the file.
    """
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    reader = ray.remote(read_token)
    refs = [reader.options(num_cpus=0, scheduling_strategy=NodeAffinitySchedulingStrategy(
        node["NodeID"], soft=False)).remote(path) for node in nodes]
    seen = ray.get(refs, timeout=timeout_s)
    return [node.get("NodeManagerAddress", node["NodeID"])
            for node, text in zip(nodes, seen, strict=True) if text != token]


def check_shared_output(ray, root: str, nodes: list[dict]) -> None:
    """Refuse a local output folder that some node of the cluster does not share.

    Raises
    ------
    ConfigError
        A node reads something else (or nothing) at the driver's token file.
    """
    os.makedirs(root, exist_ok=True)
    token = uuid.uuid4().hex
    path = os.path.join(root, f"{TOKEN_PREFIX}{token}")
    with open(path, "w", encoding="utf-8") as stream:
        stream.write(token)
    try:
        missing = nodes_not_seeing(ray, path, token, nodes)
    finally:
        os.unlink(path)
    if missing:
        raise ConfigError(shared_output_error(root, missing, len(nodes)))


def shared_output_error(root: str, missing: list[str], total: int) -> str:
    """The refusal for a local output that ``missing`` nodes do not see."""
    return (f"the output {root} is a local folder that {len(missing)} of the {total} nodes of "
            f"the Ray cluster do not see ({', '.join(missing)}): their outputs would land on "
            "their own disks, out of the driver's sight. Use an output every node reaches: an "
            "fsspec URL (s3://bucket/dataset, gs://bucket/dataset) or a folder on a shared "
            "mount (NFS, Lustre) mounted at the same path on every node")


def infra_reason(ray, exc: BaseException, node_lost: bool) -> str | None:
    """A short reason when ``exc`` means the infrastructure failed, None when the asset did.

    Node, object and owner losses, raylet/GCS connection errors and a cancellation the runner
    did not ask for are the infrastructure's. A crashed worker (or actor) is the asset's own
    failure (segfault, ``os.abort``, memory cap) unless ``node_lost``: a node of the cluster
    died while the task was in flight.
    """
    errors = ray.exceptions
    infra = tuple(getattr(errors, name) for name in (
        "NodeDiedError", "ObjectLostError", "LocalRayletDiedError", "RaySystemError",
        "RpcError", "TaskCancelledError") if hasattr(errors, name))
    if isinstance(exc, infra):
        return type(exc).__name__
    if isinstance(exc, (errors.WorkerCrashedError, errors.RayActorError)) and node_lost:
        return f"{type(exc).__name__} while a node was lost"
    return None
