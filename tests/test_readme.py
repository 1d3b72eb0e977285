"""The README's two commands are the ones CI runs and the lock they read exists and pins torch."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def commands() -> list[str]:
    section = README[README.index("## The two commands"):]
    section = section[:section.index("\n## ", 3)]
    return re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)


def test_exactly_two_commands_main_job_and_tests():
    main, tests = commands()
    assert main.endswith("&& adcompare run") and tests.endswith("&& python3 -m pytest")
    assert main.split(" && ")[0] == tests.split(" && ")[0] == 'python3 -m pip install -c constraints.txt -e ".[all]"'


def test_ci_runs_the_readme_test_command_verbatim():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert commands()[1] in ci


def test_the_lock_pins_every_dependency_and_the_cpu_torch():
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert "torch==2.13.0" in pins
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[^=\s]+", p) for p in pins), [p for p in pins if "==" not in p]
    names = {p.split("==")[0].lower().replace("_", "-") for p in pins}
    assert {"numpy", "scipy", "numba", "jax", "autograd", "plotly", "asv", "array-api-compat"} <= names
