"""Zero-data through-plane super-resolution: the scan's sharp planes teach it to restore the
thick axis (SMORE: Zhao et al., IEEE TMI 2021; ECLARE: Remedios et al., 2023).

Public: :func:`enhance`, :class:`EnhanceResult`, :func:`plan_enhance`, :class:`EnhancePlan`
(imported lazily; torch loads only when :func:`enhance` runs).
"""

from __future__ import annotations

from medsr._lazy import lazy_exports

_LAZY = {
    "enhance": "medsr.selfsup.enhance:enhance",
    "EnhanceResult": "medsr.selfsup.enhance:EnhanceResult",
    "plan_enhance": "medsr.selfsup.plan:plan_enhance",
    "EnhancePlan": "medsr.selfsup.plan:EnhancePlan",
}
__all__ = sorted(_LAZY)


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)
