"""A small numpy reference AD engine: forward mode by dual arrays, reverse mode by a flat tape.

    from adcompare import engine
    y, y_dot = engine.jvp(f, x, t)          # J t (t may be a batch (k, n))
    y, pullback = engine.vjp(f, x)          # pullback(v) = vᵀJ (v may be a batch (k, m))
    engine.jacfwd(f)(x), engine.jacrev(f)(x)
    engine.hvp_fwd_rev(f, x, t)             # also hvp_rev_rev, hvp_rev_fwd; grad(f)(x)
    engine.jacobian_sparsity(f, x)          # J's global pattern (scipy CSR), no derivatives

`f` is written against `engine.xp`. All three HVP modes work because every rule is written with
the engine's own ops, so transforms nest to any depth (tests take third derivatives).
`pullback.tape_bytes` is the memory the recording keeps for the sweep (saved residuals only).
Layout: `core` (tracer, bind), `primitives` (the table of numpy implementation + JVP + VJP +
pattern rules), `namespace` (engine.xp), `forward`, `reverse`, `sparsity`, `transforms`, and
`checkpoint` (reverse mode through a loop on Griewank's binomial schedule).
"""

from adcompare.engine import namespace as xp
from adcompare.engine.primitives import PRIMITIVES
from adcompare.engine.sparsity import jacobian_sparsity
from adcompare.engine.transforms import (
    Pullback,
    grad,
    hvp_fwd_rev,
    hvp_rev_fwd,
    hvp_rev_rev,
    jacfwd,
    jacrev,
    jvp,
    vjp,
)

__all__ = ["xp", "jvp", "vjp", "jacfwd", "jacrev", "grad", "hvp_fwd_rev", "hvp_rev_rev", "hvp_rev_fwd",
           "jacobian_sparsity", "Pullback", "PRIMITIVES"]
