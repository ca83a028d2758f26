"""What the CPU can do for int8 inference: which onnxruntime kernels give exact answers.

onnxruntime runs an int8 model's quantise / dequantise pairs as fused uint8 x int8
kernels. On x86 CPUs with the VNNI dot-product instructions (AVX512-VNNI or AVX-VNNI)
those kernels add each product straight into 32 bits: exact. On x86 CPUs without VNNI
they add pairs of products in saturating 16-bit steps, which changes answers of a model
with full 8-bit weights; there the backend asks for the slower exact kernels. ARM CPUs
(a bin's Raspberry Pi) have no such 16-bit step, and onnxruntime's exact-kernel option
only acts on x86. Measured on 2026-11-22 (``docs/model-card.md``, "Kernels"): on a CPU
with VNNI the exact-kernel option is not free (11.5 ms against 6.5 ms a photo, the same
answers bit for bit), so it is asked for only where it changes answers.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

X86_MACHINES = frozenset({"x86_64", "amd64", "i386", "i486", "i586", "i686", "x86"})
"""``platform.machine()`` values of x86 CPUs (Linux and BSD spellings)."""

VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})
"""``/proc/cpuinfo`` flags of the int8 dot-product instructions onnxruntime uses."""

CPUINFO = Path("/proc/cpuinfo")


@dataclass(frozen=True)
class CpuFeatures:
    """The CPU facts that decide which int8 kernels are exact, and a name for reports."""

    machine: str
    model: str
    flags: frozenset[str]

    @property
    def x86(self) -> bool:
        """Whether this is an x86 CPU, the only kind whose fast int8 sums can saturate."""
        return self.machine.lower() in X86_MACHINES

    @property
    def vnni(self) -> bool:
        """Whether the CPU has an int8 dot-product instruction that sums into 32 bits."""
        return bool(self.flags & VNNI_FLAGS)

    @property
    def int8_sums_saturate(self) -> bool:
        """Whether onnxruntime's fast uint8 x int8 kernels may saturate on this CPU.

        An x86 CPU whose flags could not be read counts as saturating: the exact
        kernels cost time, never answers.
        """
        return self.x86 and not self.vnni


def parse_cpuinfo(text: str, machine: str) -> CpuFeatures:
    """The features described by ``/proc/cpuinfo`` text (x86 ``flags``, ARM ``Features``)."""
    model = ""
    flags: frozenset[str] = frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key in ("model name", "Model") and not model:
            model = value.strip()
        elif key in ("flags", "Features") and not flags:
            flags = frozenset(value.split())
    return CpuFeatures(machine=machine, model=model or "unknown", flags=flags)


def read_cpu_features(cpuinfo: Path = CPUINFO, machine: str | None = None) -> CpuFeatures:
    """This machine's CPU features; an unreadable ``cpuinfo`` gives no flags."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        text = ""
    return parse_cpuinfo(text, machine if machine is not None else platform.machine())


@lru_cache(maxsize=1)
def this_cpu() -> CpuFeatures:
    """This machine's CPU features, read once per process."""
    return read_cpu_features()
