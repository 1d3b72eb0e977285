"""`adcompare list`: the registered problems and backends, and which backends can run here.

Availability is decided without importing torch or jax (`importlib.util.find_spec` and the GPU
device node), so the listing stays fast.
"""

from __future__ import annotations

from adcompare.backends import all_backends
from adcompare.problems import Problem, all_problems
from adcompare.problems.user_code import shown


def command_help(name: str) -> str:
    return "list problems (n → m, sizes) and backends (devices, available or why not)"


def add_arguments(name: str, parser) -> None:
    pass


def sweep_shapes(problem: Problem) -> list[tuple[int, int]]:
    """(n, m) of every instance the problem sweeps, smallest first."""
    shapes = []
    for kw in problem.sweep():
        n, options = problem.resolve(**kw)
        shapes.append((n, problem.output_size(n, **options)))
    return sorted(shapes)


def shape_text(problem: Problem) -> str:
    """'n → n', 'n → 1', '3 → 3' or 'n → m': the output size as a function of n."""
    shapes = sweep_shapes(problem)
    outputs = {m for _, m in shapes}
    if len(shapes) == 1:
        return f"{shapes[0][0]} → {shapes[0][1]}"
    if all(n == m for n, m in shapes):
        return "n → n"
    if len(outputs) == 1:
        return f"n → {outputs.pop()}"
    return "n → m"


def sweep_text(problem: Problem) -> str:
    """The sizes swept: n, or n → m where n stays fixed and the outputs grow (ht); where two
    instances share a shape (llsq's point counts, kmeans' runs), each also names the options
    that vary along the sweep: '128 (N=16), 128 (N=64)'."""
    resolved = sorted((problem.resolve(**kw) for kw in problem.sweep()),
                      key=lambda r: (r[0], problem.output_size(r[0], **r[1])))
    shapes = [(n, problem.output_size(n, **options)) for n, options in resolved]
    fixed_n = len({n for n, _ in shapes}) == 1 and len(shapes) > 1
    texts = [f"{n}→{m}" if fixed_n else str(n) for n, m in shapes]
    if len(set(shapes)) == len(shapes):
        return ", ".join(texts)
    varying = [k for k in problem.options if len({str(options[k]) for _, options in resolved}) > 1]
    return ", ".join(f"{text} ({','.join(f'{k}={options[k]}' for k in varying)})" if varying else text
                     for text, (_, options) in zip(texts, resolved))


def options_text(problem: Problem) -> str:
    return ", ".join(f"{k}={'n' if v is None else v}" for k, v in problem.options.items())


def table(header: list[str], rows: list[list[str]]) -> str:
    """Left-aligned columns, two spaces apart, the last column unpadded."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
    lines = []
    for row in [header, *rows]:
        cells = [cell.ljust(w) for cell, w in zip(row, widths)] + [row[-1]]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def backend_status(backend, device: str) -> str:
    reason = backend.missing_reason() or backend.device_missing_reason(device)
    return "available" if reason is None else f"unavailable: {reason}"


def summary_text(problem: Problem) -> str:
    """The summary; a user's problem adds where it came from."""
    return problem.summary + (f" [{shown(problem.source)}]" if problem.source else "")


def main(args) -> int:
    problems = [[p.name, shape_text(p), sweep_text(p), options_text(p), summary_text(p)]
                for p in all_problems()]
    print("Problems")
    print(table(["name", "n → m", "sweep", "options", "summary"], problems))
    backends = []
    for b in all_backends():
        for device in b.devices:
            backends.append([b.name, device, backend_status(b, device), b.summary])
    print("\nBackends")
    print(table(["name", "device", "status", "summary"], backends))
    return 0
