"""The operator vocabulary every backend implements: one name per measured operation.

Like DifferentiationInterface.jl's operators, each has a prepare step (untimed) and a run step
(the measured work). The list here is the single source read by backends, tests, benchmarks,
CLI and report.
"""

from __future__ import annotations

import dataclasses

from adcompare.errors import choose_from


@dataclasses.dataclass(frozen=True)
class Operator:
    name: str          # id used everywhere ("jacobian-fwd-loop")
    kind: str          # "primal" | "vjp" | "jvp" | "jacobian" | "hvp"
    mode: str          # "none" | "fwd" | "rev" | "fwd-rev" | "rev-rev" | "rev-fwd"
    strategy: str      # "single" | "batched" | "loop" | "sparse"
    direction: str     # what the run needs besides x: "" | "v" (cotangent, m) | "t" (tangent, n)
    doc: str

    @property
    def scalar_only(self) -> bool:
        """HVPs need a scalar-output problem (m = 1)."""
        return self.kind == "hvp"

    def applies_to(self, inst) -> bool:
        """Structurally meaningful for this instance (an HVP needs m = 1)."""
        return not self.scalar_only or inst.m == 1

    def passes(self, n: int, m: int) -> int:
        """Number of JVP/VJP products the operator does: n forward or m reverse for a Jacobian (for
        a sparse one, at most that: it does one per colour, `sparse.plan(inst, mode).count`)."""
        if self.kind == "jacobian":
            return n if self.mode == "fwd" else m
        return 1


OPERATORS: dict[str, Operator] = {
    op.name: op
    for op in [
        Operator("primal", "primal", "none", "single", "", "y = f(x)"),
        Operator("vjp", "vjp", "rev", "single", "v", "vᵀJ by one reverse pass"),
        Operator("jvp", "jvp", "fwd", "single", "t", "J t by one forward pass"),
        Operator("jacobian-fwd", "jacobian", "fwd", "batched", "", "J from n tangents in one vectorised forward pass"),
        Operator("jacobian-rev", "jacobian", "rev", "batched", "", "J from m cotangents in one vectorised reverse pass"),
        Operator("jacobian-fwd-loop", "jacobian", "fwd", "loop", "", "J from a Python loop of n JVPs"),
        Operator("jacobian-rev-loop", "jacobian", "rev", "loop", "", "J from one recording and a loop of m VJPs"),
        Operator("jacobian-fwd-sparse", "jacobian", "fwd", "sparse", "",
                 "sparse J from one JVP per column colour, batched, decompressed into CSR"),
        Operator("jacobian-rev-sparse", "jacobian", "rev", "sparse", "",
                 "sparse J from one VJP per row colour, batched, decompressed into CSR"),
        Operator("hvp-fwd-rev", "hvp", "fwd-rev", "single", "t", "H t as the JVP of the gradient (forward-over-reverse)"),
        Operator("hvp-rev-rev", "hvp", "rev-rev", "single", "t", "H t as the gradient of ⟨∇f, t⟩ (reverse-over-reverse)"),
        Operator("hvp-rev-fwd", "hvp", "rev-fwd", "single", "t", "H t as the gradient of the JVP f'(x)t (reverse-over-forward)"),
    ]
}

JACOBIAN_MODES = ("fwd", "rev")
JACOBIAN_STRATEGIES = ("batched", "loop", "sparse")
SPARSE_JACOBIANS = ("jacobian-fwd-sparse", "jacobian-rev-sparse")
HVP_MODES = ("fwd-rev", "rev-rev", "rev-fwd")


def get_operator(name: str) -> Operator:
    try:
        return OPERATORS[name]
    except KeyError:
        raise choose_from("operator", name, OPERATORS) from None


def jacobian_operator(mode: str, strategy: str = "batched") -> Operator:
    if mode not in JACOBIAN_MODES:
        raise choose_from("jacobian mode", mode, JACOBIAN_MODES)
    if strategy not in JACOBIAN_STRATEGIES:
        raise choose_from("jacobian strategy", strategy, JACOBIAN_STRATEGIES)
    return OPERATORS["jacobian-" + mode + ("" if strategy == "batched" else "-" + strategy)]


def hvp_operator(mode: str) -> Operator:
    if mode not in HVP_MODES:
        raise choose_from("hvp mode", mode, HVP_MODES)
    return OPERATORS["hvp-" + mode]
