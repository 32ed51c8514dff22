"""CPU each process group used over a phase, read from /proc, so that the report says where the
time went and how much other programs on the machine took."""
from __future__ import annotations

import os
import time
from pathlib import Path

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (parent pid, CPU seconds used so far) of every process on the machine."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            raw = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        table[int(entry.name)] = (int(fields[1]), (int(fields[11]) + int(fields[12])) / CLK_TCK)
    return table


def _machine_busy() -> float:
    """CPU seconds all cores have spent busy since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / CLK_TCK


def _tree_cpu(table, roots: list[int]) -> float:
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    total, todo, seen = 0.0, list(roots), set()
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in table:
            continue
        seen.add(pid)
        total += table[pid][1]
        todo.extend(children.get(pid, []))
    return total


class CpuMeter:
    """Cores each process group used between ``start()`` and ``stop()``; ``client`` is this
    process with the children it reaped meanwhile (wrk), ``other`` everything not ours."""

    def __init__(self, groups: dict[str, list[int]]):
        self.groups = groups
        self.extra: dict[str, list[int]] = {}

    def _sample(self) -> dict[str, float]:
        table = _proc_table()
        own = os.times()
        groups = {**self.groups, **self.extra}
        sample = {name: _tree_cpu(table, pids) for name, pids in groups.items()}
        sample["client"] = own.user + own.system + own.children_user + own.children_system
        sample["machine"] = _machine_busy()
        return sample

    def start(self, extra: dict[str, list[int]] | None = None) -> None:
        self.extra = extra or {}
        self.t0, self.first = time.monotonic(), self._sample()

    def stop(self) -> dict[str, float]:
        last, wall = self._sample(), time.monotonic() - self.t0
        used = {name: max(last[name] - self.first.get(name, 0.0), 0.0) / wall for name in last}
        ours = sum(v for k, v in used.items() if k != "machine")
        used["other"] = max(used.pop("machine") - ours, 0.0)
        used["wall_s"] = wall
        return used
