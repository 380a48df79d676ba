"""Refuse work that would not fit in memory, before allocating it."""

from __future__ import annotations

import os

__all__ = ["available_memory", "check_fits_in_memory"]

#: Tests and users may lower this (bytes); ``None`` means the machine's
#: available physical memory.
MEMORY_LIMIT: int | None = None


def available_memory() -> int:
    """Bytes of memory this process may use: `MEMORY_LIMIT` or what the OS reports free."""
    if MEMORY_LIMIT is not None:
        return int(MEMORY_LIMIT)
    try:
        with open("/proc/meminfo") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # unknown platform: do not refuse
        return 2**63


def check_fits_in_memory(nbytes: float, what: str, advice: str) -> None:
    """Raise `MemoryError` naming the need, the availability and a way out."""
    have = available_memory()
    if nbytes > have:
        raise MemoryError(
            f"{what} needs about {nbytes / 2**30:.2f} GiB but only "
            f"{have / 2**30:.2f} GiB are available. {advice}"
        )
