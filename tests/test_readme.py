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


def test_ci_then_runs_the_full_product_of_the_matrix_tests():
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    exhaustive = [i for i, line in enumerate(ci) if line.startswith("python3 -m pytest --exhaustive -m product")]
    assert exhaustive and exhaustive[0] > ci.index(commands()[1])
    assert "--exhaustive" in README and "covering design" in README


def test_the_lock_pins_every_dependency_and_the_cpu_torch():
    pins = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and not line.startswith("#")]
    assert "torch==2.13.0" in pins
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[^=\s]+", p) for p in pins), [p for p in pins if "==" not in p]
    names = {p.split("==")[0].lower().replace("_", "-") for p in pins}
    assert {"numpy", "scipy", "numba", "jax", "autograd", "plotly", "asv", "array-api-compat"} <= names


# --- "Your own function": its files and commands run as written --------------------------------
import os  # noqa: E402
import shlex  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402

from adcompare import cli  # noqa: E402
from test_user_problems import isolated  # noqa: E402,F401  (the registry as it was, after each test)


def own_function_section() -> str:
    section = README[README.index("## Your own function"):]
    return section[:section.index("\n## ", 3)]


def test_your_own_function_is_the_third_section():
    titles = re.findall(r"^## (.+)$", README, flags=re.M)
    assert titles[:3] == ["The two commands", "The worked example", "Your own function"]


def test_your_own_function_commands_run_as_written(isolated, capsys, monkeypatch):
    """The section's files saved under the names they give, then each shell command: the same
    subcommands in this process (`run` in its own, with --list; `check` on the reference engine),
    every printed result equal to the one in its comment."""
    section = own_function_section()
    monkeypatch.chdir(isolated)
    for block in re.findall(r"```python\n(.*?)\n```", section, flags=re.S):
        (isolated / block.splitlines()[0].removeprefix("# ").strip()).write_text(block + "\n")
    commands = re.findall(r"```bash\n(.*?)\n```", section, flags=re.S)[0]   # the advise one: tests/test_advise.py
    for line in commands.splitlines():
        command, _, comment = line.partition("#")
        words = shlex.split(command)
        leading = next(i for i, w in enumerate(words) if not re.fullmatch(r"[A-Z_]+=.*", w))   # VAR=value adcompare ...
        env, args = dict(w.split("=", 1) for w in words[:leading]), words[leading + 1:]
        if args[0] == "run":
            done = subprocess.run([sys.executable, "-m", "adcompare", *args, "--list"], capture_output=True, text=True,
                                  timeout=300, env={**os.environ, **env})
            assert done.returncode == 0 and "heat:4096:steps=10" in done.stdout, done.stderr
            continue
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        status = cli.main(args + (["--backend", "numpy"] if args[0] == "check" else []))
        out = capsys.readouterr()
        assert status == 0, (line, out.err)
        if re.fullmatch(r"[-0-9. ]+", comment.strip()):
            assert out.out.split() == comment.split(), line


def test_your_own_function_quotes_what_jax_jit_says(isolated, capsys, monkeypatch):
    """The section's branchy.py, as it describes it (`if x[0] > 0:` on line 6), and its command."""
    section = " ".join(own_function_section().split())
    monkeypatch.chdir(isolated)
    (isolated / "branchy.py").write_text("import adcompare as ad\n\n\n@ad.function(sizes=(3,))\ndef branchy(xp, x):\n"
                                         "    if x[0] > 0:\n        return 2 * x\n    return x\n")
    command = re.search(r"`(adcompare vjp branchy [^`]+)`", section).group(1)
    assert cli.main(shlex.split(command)[1:]) == 2
    assert " ".join(capsys.readouterr().err.split()) in section
