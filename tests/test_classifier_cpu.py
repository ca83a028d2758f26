"""Reading the CPU features that decide which int8 kernels the classifier runs."""

from __future__ import annotations

import platform
from pathlib import Path

from agent.classifier.cpu import parse_cpuinfo, read_cpu_features, this_cpu

X86_CPUINFO = """\
processor	: 0
vendor_id	: AuthenticAMD
model name	: AMD EPYC 9R14
flags		: fpu vme de pse tsc msr avx2 avx512f avx512dq avx512_vnni avx512_bf16

processor	: 1
vendor_id	: AuthenticAMD
model name	: AMD EPYC 9R14
flags		: fpu vme de pse tsc msr avx2 avx512f avx512dq avx512_vnni avx512_bf16
"""

X86_NO_VNNI_CPUINFO = """\
processor	: 0
model name	: AMD EPYC 7B12
flags		: fpu vme sse4_2 avx avx2 fma bmi2
"""

PI_4_CPUINFO = """\
processor	: 0
BogoMIPS	: 108.00
Features	: fp asimd evtstrm crc32 cpuid
CPU implementer	: 0x41
CPU part	: 0xd08

Hardware	: BCM2835
Model		: Raspberry Pi 4 Model B Rev 1.4
"""


def test_an_x86_cpu_with_vnni_sums_int8_products_exactly() -> None:
    cpu = parse_cpuinfo(X86_CPUINFO, "x86_64")
    assert cpu.model == "AMD EPYC 9R14"
    assert cpu.x86
    assert cpu.vnni
    assert not cpu.int8_sums_saturate


def test_an_x86_cpu_without_vnni_saturates() -> None:
    cpu = parse_cpuinfo(X86_NO_VNNI_CPUINFO, "x86_64")
    assert "avx2" in cpu.flags
    assert not cpu.vnni
    assert cpu.int8_sums_saturate


def test_a_raspberry_pi_never_saturates() -> None:
    cpu = parse_cpuinfo(PI_4_CPUINFO, "aarch64")
    assert cpu.model == "Raspberry Pi 4 Model B Rev 1.4"
    assert "asimd" in cpu.flags
    assert not cpu.x86
    assert not cpu.int8_sums_saturate


def test_unreadable_cpuinfo_on_x86_is_taken_as_saturating(tmp_path: Path) -> None:
    # The exact kernels cost time, never answers: the safe guess when flags are unknown.
    cpu = read_cpu_features(tmp_path / "missing", machine="AMD64")
    assert cpu.flags == frozenset()
    assert cpu.model == "unknown"
    assert cpu.int8_sums_saturate


def test_cpuinfo_is_read_from_the_given_file(tmp_path: Path) -> None:
    path = tmp_path / "cpuinfo"
    path.write_text(X86_NO_VNNI_CPUINFO)
    assert read_cpu_features(path, machine="x86_64").model == "AMD EPYC 7B12"


def test_this_cpu_is_this_machine() -> None:
    assert this_cpu().machine == platform.machine()
    assert this_cpu() is this_cpu()  # read once per process
