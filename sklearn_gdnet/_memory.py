"""Refuse work that would not fit in memory, before allocating it.

One model for every path of the package: a computation states how many bytes it
is about to allocate (`check_fits_in_memory`) and is refused when that exceeds
what the process can still get, the least of

* the physical memory the system reports available (``MemAvailable``);
* the room left under the process's address-space limit (``RLIMIT_AS``,
  ``ulimit -v``), which counts every mapping, and under its data limit
  (``RLIMIT_DATA``, ``ulimit -d``);
* the room left in the memory limit of its control group (containers);
* `MEMORY_LIMIT`, when set.

A request over the limit raises `MemoryError` naming the computation, the need,
what is available and which limit binds, before anything is allocated, so that
the process neither fails half-way nor is killed by the system.
"""

from __future__ import annotations

import os

try:
    import resource
except ImportError:  # pragma: no cover - not on POSIX
    resource = None

__all__ = ["available_memory", "check_fits_in_memory", "memory_limits"]

#: Tests and users may lower the memory the package allows itself (bytes);
#: ``None`` leaves it to the system's limits.
MEMORY_LIMIT: int | None = None

_UNLIMITED = 2**63


def _status_kib(field):
    """A ``Vm*`` field of /proc/self/status, in bytes (None if unknown)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _physical_available():
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # unknown platform: do not refuse
        return None


def _rlimit_room(which, used_field):
    if resource is None or not hasattr(resource, which):
        return None
    soft, _ = resource.getrlimit(getattr(resource, which))
    if soft == resource.RLIM_INFINITY or soft < 0:
        return None
    used = _status_kib(used_field)
    return max(soft - (used or 0), 0)


def _cgroup_room():
    """Room under a cgroup v2 ``memory.max`` of this process's group."""
    try:
        with open("/proc/self/cgroup") as f:
            path = next(
                (line.strip().split(":", 2)[2] for line in f if line.startswith("0::")), None
            )
        if path is None:
            return None
        base = os.path.join("/sys/fs/cgroup", path.lstrip("/"))
        with open(os.path.join(base, "memory.max")) as f:
            limit = f.read().strip()
        if limit == "max":
            return None
        with open(os.path.join(base, "memory.current")) as f:
            current = int(f.read().strip())
        return max(int(limit) - current, 0)
    except (OSError, ValueError, IndexError):
        return None


def memory_limits() -> dict[str, int]:
    """The limits that apply now, in bytes of room left, by name."""
    limits = {
        "available physical memory": _physical_available(),
        "the address-space limit (ulimit -v)": _rlimit_room("RLIMIT_AS", "VmSize"),
        "the data-segment limit (ulimit -d)": _rlimit_room("RLIMIT_DATA", "VmData"),
        "the control group's memory limit": _cgroup_room(),
        "sklearn_gdnet._memory.MEMORY_LIMIT": (None if MEMORY_LIMIT is None else int(MEMORY_LIMIT)),
    }
    return {name: room for name, room in limits.items() if room is not None}


def available_memory() -> int:
    """Bytes this process may still allocate: the least of `memory_limits`."""
    return min(memory_limits().values(), default=_UNLIMITED)


def check_fits_in_memory(nbytes: float, what: str, advice: str) -> None:
    """Raise `MemoryError` naming the need, the availability, the limit and a way out."""
    limits = memory_limits()
    if not limits:
        return
    binding = min(limits, key=limits.get)
    have = limits[binding]
    if nbytes > have:
        raise MemoryError(
            f"{what} needs about {nbytes / 2**30:.2f} GiB but only "
            f"{have / 2**30:.2f} GiB are available (limited by {binding}). {advice}"
        )
