"""Import the fastest build of the compiled core that this CPU runs.

A portable wheel holds up to three builds of the same C++ core: ``_core`` (the baseline of the wheel's platform
tag: x86-64 with SSE2, or aarch64), ``_core_avx2`` (x86-64-v3: AVX2 + FMA) and ``_core_avx512`` (x86-64-v4). The
small probe ``_cpu`` asks the CPU itself (CPUID, XGETBV) what it can run, and the best build present is imported
as ``ldrx._core``. A source build with ``LDRX_NATIVE=ON`` (``-march=native``) holds only ``_core``.

``LDRX_ISA=baseline|avx2|avx512`` forces a build (for benchmarks, or identical rounding on mixed clusters:
builds differ in the last digits because AVX2 uses fused multiply-adds); ``LDRX_ISA=auto`` is the default.
"""

from __future__ import annotations

import importlib
import os
import sys

#: fastest first
VARIANTS = ("avx512", "avx2", "baseline")
ISA = "baseline"  # the build that was imported


def _module_name(variant):
    return "_core" if variant == "baseline" else f"_core_{variant}"


def cpu_features() -> dict:
    """{'x86_64': bool, 'avx2': bool, 'avx512': bool}, or {} if the probe is not built (developer builds)."""
    try:
        from . import _cpu
    except ImportError:
        return {}
    return dict(_cpu.features())


def load_core():
    """The chosen core module; also registered as ``ldrx._core``."""
    global ISA
    want = os.environ.get("LDRX_ISA", "auto").strip().lower() or "auto"
    if want not in VARIANTS + ("auto",):
        raise ImportError(f"LDRX_ISA={want!r}: choose one of auto, {', '.join(VARIANTS)}")
    feats = cpu_features()
    if want == "auto":
        order = [v for v in VARIANTS if v == "baseline" or feats.get(v, False)]
    else:
        if want != "baseline" and not feats.get(want, False):
            raise ImportError(f"LDRX_ISA={want}: this CPU (or this build, which has no CPU probe) cannot run it")
        order = [want]
    for variant in order:
        try:
            mod = importlib.import_module(f"{__package__}.{_module_name(variant)}")
        except ModuleNotFoundError:
            if want != "auto":
                raise ImportError(f"LDRX_ISA={want}: this installation has no {_module_name(variant)} build "
                                  f"(source builds with LDRX_NATIVE=ON or LDRX_DISPATCH=OFF have only _core)")
            continue
        ISA = variant
        sys.modules[f"{__package__}._core"] = mod
        return mod
    raise ImportError("ldrx: no compiled core found (ldrx._core): is the package built?")
