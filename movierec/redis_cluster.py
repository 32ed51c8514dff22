"""A local Redis Cluster for `movierec up --cluster N` and the tests: N masters (each with
``replicas`` replicas) on consecutive ports of 127.0.0.1, made with ``redis-server
--cluster-enabled yes`` and ``redis-cli --cluster create``, with the private Redis's settings:
AOF, no eviction, and only the user ``movierec`` with a password when one is given."""
from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis

from movierec.credentials import REDIS_USER, write_private
from movierec.redis_server import RedisUnavailable, ensure_redis_server_binary
from shared import config


@dataclass
class ClusterHandle:
    url: str  # redis+cluster://... naming every node
    ports: list[int]
    processes: list[subprocess.Popen] = field(default_factory=list)  # empty when reused
    commands: dict[int, list[str]] = field(default_factory=dict)  # each node's, by port

    def restart(self, port: int) -> None:
        """Start the node on ``port`` again (after it died): it rejoins the cluster from its
        nodes.conf, as a replica of whichever node took its slots over."""
        process = subprocess.Popen(self.commands[port], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        self.processes[self.ports.index(port)] = process

    def node_client(self, port: int, password: str | None = None) -> redis.Redis:
        return node_client(port, password)

    def stop(self) -> None:
        """Stop the nodes we started (each writes its append-only file first)."""
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


def node_client(port: int, password: str | None, timeout: float = 2.0) -> redis.Redis:
    """A client of one node of the local cluster, signed in as our user when it has a
    password."""
    return redis.Redis(port=port, username=REDIS_USER if password else None, password=password,
                       socket_timeout=timeout)


def cluster_url(ports: list[int], password: str | None) -> str:
    credentials = f"{REDIS_USER}:{password}@" if password else ""
    return "redis+cluster://" + credentials + ",".join(f"127.0.0.1:{p}" for p in ports)


def _cluster_ok(port: int, password: str | None) -> bool:
    try:
        return node_client(port, password, 0.5).cluster("info").get("cluster_state") == "ok"
    except (redis.RedisError, OSError):
        return False


def start_cluster(var_dir: Path, first_port: int, masters: int = 3, replicas: int = 0,
                  password: str | None = None, allow_apt: bool = True,
                  maxmemory: str = config.Settings.redis_maxmemory,
                  appendfsync: str = config.Settings.redis_appendfsync,
                  timeout: float = 30.0) -> ClusterHandle:
    """Start (or reuse) a cluster of ``masters`` masters and ``replicas`` replicas each on the
    ports from ``first_port`` (each node's cluster bus takes its port + 10000), data under
    ``var_dir``/redis-cluster/<port>."""
    ports = list(range(first_port, first_port + masters * (1 + replicas)))
    handle = ClusterHandle(cluster_url(ports, password), ports)
    if all(_cluster_ok(port, password) for port in ports):
        return handle  # ours from an earlier run, still up
    binary = ensure_redis_server_binary(allow_apt)
    root = Path(var_dir).resolve() / "redis-cluster"
    for port in ports:
        data_dir = root / str(port)
        data_dir.mkdir(parents=True, exist_ok=True)
        auth = []
        if password:
            acl = data_dir / "users.acl"
            write_private(acl, f"user default off\nuser {REDIS_USER} on >{password} ~* &* +@all\n")
            conf = data_dir / "auth.conf"  # replicas sign in to their master as our user
            write_private(conf, f"masteruser {REDIS_USER}\nmasterauth {password}\n")
            auth = [str(conf), "--aclfile", str(acl)]
        handle.commands[port] = [
            binary, *auth[:1], "--port", str(port), "--bind", "127.0.0.1",
            "--dir", str(data_dir), "--cluster-enabled", "yes",
            "--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
            "--appendonly", "yes", "--appendfsync", appendfsync, "--save", "",
            "--daemonize", "no", "--maxmemory", maxmemory, "--maxmemory-policy", "noeviction",
            "--logfile", str(data_dir / "redis.log"), *auth[1:]]
        handle.processes.append(subprocess.Popen(
            handle.commands[port], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True))
    deadline = time.monotonic() + timeout
    for port in ports:
        while not _answers(port, password):
            _check_started(handle, root, deadline)
            time.sleep(0.05)
    if not all(_cluster_ok(port, password) for port in ports):
        _create(ports, replicas, password, root)
    while not all(_cluster_ok(port, password) for port in ports) or \
            _replicas_in_sync(ports, password) < masters * replicas:
        _check_started(handle, root, deadline)
        time.sleep(0.1)
    return handle


def _replicas_in_sync(ports: list[int], password: str | None) -> int:
    """How many nodes are replicas whose link to their master is up (a replica takes over its
    master only then)."""
    synced = 0
    for port in ports:
        try:
            info = node_client(port, password, 0.5).info("replication")
        except (redis.RedisError, OSError):
            continue
        synced += info.get("role") == "slave" and info.get("master_link_status") == "up"
    return synced


def _answers(port: int, password: str | None) -> bool:
    try:
        return bool(node_client(port, password, 0.5).ping())
    except (redis.RedisError, OSError):
        return False


def _create(ports: list[int], replicas: int, password: str | None, root: Path) -> None:
    """``redis-cli --cluster create``: the slots spread over the masters, replicas attached.
    The password goes in the environment, not on the command line (``ps`` shows that)."""
    env = {**os.environ, **({"REDISCLI_AUTH": password} if password else {})}
    result = subprocess.run(
        ["redis-cli", *(["--user", REDIS_USER] if password else []), "--cluster", "create",
         *(f"127.0.0.1:{port}" for port in ports), "--cluster-replicas", str(replicas),
         "--cluster-yes"], env=env, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RedisUnavailable(f"redis-cli --cluster create failed (logs in {root}):\n"
                               f"{result.stdout[-800:]}{result.stderr[-800:]}")


def _check_started(handle: ClusterHandle, root: Path, deadline: float) -> None:
    dead = [p for p in handle.processes if p.poll() is not None]
    if dead or time.monotonic() > deadline:
        handle.stop()
        logs = "".join((root / str(port) / "redis.log").read_text(errors="replace")[-300:]
                       for port in handle.ports if (root / str(port) / "redis.log").exists())
        raise RedisUnavailable(f"the local Redis Cluster on ports {handle.ports} did not start "
                               f"(logs in {root}):\n{logs}")
