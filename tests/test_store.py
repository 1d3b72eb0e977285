"""The results folder's guarantees: whole-file replacement (also under SIGKILL), the run lock,
corrupt files named, the pages swapped whole and recovered, plain machine names."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from adcompare.errors import UserError
from adcompare.store import files, folder

WRITER = r"""
import sys, itertools
from pathlib import Path
from adcompare.store import files
path = Path(sys.argv[1])
for i in itertools.count():
    files.write_json(path, {"version": i, "payload": [i] * 200_000})
"""


def test_a_killed_writer_never_leaves_a_half_written_file(tmp_path):
    path = tmp_path / "results.json"
    files.write_json(path, {"version": -1, "payload": []})
    for delay in (0.05, 0.13, 0.31, 0.52, 0.77):
        proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        data = json.loads(path.read_text())          # always a whole file, old or new
        assert data["payload"] == [data["version"]] * len(data["payload"])
    leftovers = [p.name for p in tmp_path.iterdir() if p.name != "results.json"]
    assert all(name.startswith(".results.json.") for name in leftovers)   # only temp files, never the target


def test_a_failed_rename_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "f.json"
    files.write_json(path, {"old": True})
    monkeypatch.setattr(files.os, "replace", lambda a, b: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError, match="disk full"):
        files.write_json(path, {"old": False})
    assert json.loads(path.read_text()) == {"old": True}
    assert [p.name for p in tmp_path.iterdir()] == ["f.json"]


def test_json_is_written_without_nan_or_infinity(tmp_path):
    path = tmp_path / "f.json"
    files.write_json(path, {"a": float("nan"), "b": [float("inf"), 1.0]})
    assert json.loads(path.read_text(), parse_constant=lambda c: pytest.fail(c)) == {"a": None, "b": [None, 1.0]}


HOLDER = r"""
import sys, time
from pathlib import Path
from adcompare.store import folder
with folder.run_lock(Path(sys.argv[1]), "adcompare run --grid main"):
    print("holding", flush=True)
    time.sleep(30)
"""


def test_a_second_run_is_refused_naming_the_holder(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "holding"
        with pytest.raises(UserError, match=rf"another adcompare run is using .*pid {proc.pid} .*adcompare run --grid main"):
            with folder.run_lock(tmp_path, "adcompare run"):
                pass
    finally:
        proc.kill()
        proc.wait()
    with folder.run_lock(tmp_path, "adcompare run"):     # the holder died: the lock is free again
        pass


def test_corrupt_files_are_found_with_a_removal_command(tmp_path):
    (tmp_path / "box").mkdir()
    (tmp_path / "box" / "machine.json").write_text('{"machine": "box"}')
    (tmp_path / "box" / "abc-env.json").write_text('{"truncated": ')
    (tmp_path / "box" / "bad-bytes.json").write_bytes(b'{"x": "\xff\xfe"}')
    bad = dict(folder.corrupt_files(tmp_path))
    assert set(bad) == {tmp_path / "box" / "abc-env.json", tmp_path / "box" / "bad-bytes.json"}
    assert "UTF-8" in bad[tmp_path / "box" / "bad-bytes.json"]
    assert files.removal_hint(tmp_path / "box" / "abc-env.json") == f"rm '{tmp_path / 'box' / 'abc-env.json'}'"


def test_pages_are_swapped_whole_and_an_interrupted_swap_is_undone(tmp_path):
    results = tmp_path / "results"
    (results / "html").mkdir(parents=True)
    (results / "html" / "index.html").write_text("old pages")
    new = tmp_path / "scratch-html"
    new.mkdir()
    (new / "index.html").write_text("new pages")
    folder.swap_html(results, new)
    assert (results / "html" / "index.html").read_text() == "new pages"
    assert sorted(p.name for p in results.iterdir()) == ["html"]
    # an interrupt between the two renames: the old pages are aside, none in place
    os.replace(results / "html", results / f"{folder.OLD_HTML_PREFIX}1234")
    folder.recover_html(results)
    assert (results / "html" / "index.html").read_text() == "new pages"


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "..", "", "x" * 101, "box name"])
def test_machine_names_are_plain(name):
    with pytest.raises(UserError, match="not a plain name"):
        folder.check_machine_name(name)


def test_plain_machine_names_pass():
    assert folder.check_machine_name("amd-epyc-2c_v2.1") == "amd-epyc-2c_v2.1"
