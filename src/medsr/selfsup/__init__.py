"""Zero-data through-plane super-resolution: the scan's sharp planes teach it to restore the
thick axis (SMORE: Zhao et al., IEEE TMI 2021; ECLARE: Remedios et al., 2023).

Public: :func:`enhance`, :class:`EnhanceResult`, :func:`plan_enhance`, :class:`EnhancePlan`.
``enhance`` is bound here eagerly because the submodule of the same name would otherwise
replace it as soon as anything imported ``medsr.selfsup.enhance`` (importing it loads no torch:
torch loads only when :func:`enhance` runs); the plan names stay lazy.
"""

from __future__ import annotations

from medsr._lazy import lazy_exports
from medsr.selfsup.enhance import EnhanceResult as EnhanceResult
from medsr.selfsup.enhance import enhance as enhance

_LAZY = {
    "plan_enhance": "medsr.selfsup.plan:plan_enhance",
    "EnhancePlan": "medsr.selfsup.plan:EnhancePlan",
}
__all__ = sorted([*_LAZY, "enhance", "EnhanceResult"])


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, extra=("enhance", "EnhanceResult"))
