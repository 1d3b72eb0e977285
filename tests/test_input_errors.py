"""User mistakes in what a command or the API is given: each is one UserError naming what was
wrong (the file and line for a data file), never a traceback, a silent coercion or a huge
allocation. Most cases go through the API and the readers; a few through the command, to pin
the one line on stderr and exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys
import tracemalloc

import numpy as np
import pytest

import adcompare as ad
from adcompare.commands.products import parse_numbers, parse_options, plain_int
from adcompare.datafile import Numbers
from adcompare.problems import _hand_model as hand

INT64_MAX = 2**63 - 1


def adcompare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "adcompare", *args], capture_output=True, text=True, timeout=300)


def refused(call) -> str:
    """The message of the UserError that `call` raises, checked to be one line."""
    with pytest.raises(ad.UserError) as err:
        call()
    message = str(err.value)
    assert "\n" not in message
    return message


def one_line_exit_2(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


# --- 1. --opt and keywords take the problem's own options only ---------------------------------
@pytest.mark.parametrize("call, message", [
    (lambda: ad.vjp("square", operator=1), "square: unknown option 'operator'; options: none"),
    (lambda: ad.vjp("square", direction=[1.0]), "square: unknown option 'direction'; options: none"),
    (lambda: ad.jvp("affine", v=[1.0]), "affine: unknown option 'v'; options: m"),
    (lambda: ad.primal("gmm", seed=3), "gmm: unknown option 'seed'; options: d, k, N"),
    (lambda: ad.instance("affine", 3, x=[1.0]), "affine: unknown option 'x'; options: m"),
    (lambda: ad.sparsity_pattern("square", v=[1.0]), "square: unknown option 'v'; options: none"),
    (lambda: ad.vjp("square", n="3"), "square: n must be an integer, got '3'"),
    (lambda: ad.vjp("square", [1.0, 2.0], n="2"), "square: n must be an integer, got '2'"),
])
def test_api_keywords_other_than_options_are_user_errors(call, message):
    assert refused(call) == message


def test_api_n_is_a_keyword_of_every_product():
    assert ad.vjp("square", n=3).shape == (3,)
    assert ad.jacobian("affine", n=2, m=3, mode="rev").shape == (3, 2)


@pytest.mark.parametrize("items, message", [
    (["n=3"], "--opt 'n=3': square: unknown option 'n'; options: none (set n with --n)"),
    (["backend=1"], "--opt 'backend=1': square: unknown option 'backend'; options: none (set backend with --backend)"),
    (["operator=1"], "--opt 'operator=1': square: unknown option 'operator'; options: none"),
    (["m=3", "m=4"], "--opt: option m is given twice (m=3 and 'm=4')"),
    (["m=1_0"], "--opt: 'm=1_0' is not KEY=INTEGER (e.g. --opt m=5)"),
    (["m=nan"], "--opt: 'm=nan' is not KEY=INTEGER (e.g. --opt m=5)"),
])
def test_opt_takes_the_problems_options_once(items, message):
    problem = "affine" if items[0].startswith("m=") else "square"
    assert refused(lambda: parse_options(items, problem, ["n", "backend"])) == message


def test_opt_values_are_parsed_plainly():
    assert parse_options([" m = +5 "], "affine") == {"m": 5}


def test_opt_n_on_the_command_line():
    line = one_line_exit_2(adcompare("vjp", "square", "--opt", "n=3"))
    assert line == "adcompare: error: --opt 'n=3': square: unknown option 'n'; options: none (set n with --n)"


# --- 2. non-finite values and bytes that are not UTF-8 ---------------------------------------------
GMM = "1 1 2\n0.5\n0.1\n0.2\n1.0\n2.0\n1 0\n"                # d k N, α, μ, q, two points, γ m
BA = "1 1 1\n" + " ".join(["0.1"] * 11) + "\n0 0 5\n0.9\n1 2\n"
LSTM = "1 2 1\n" + "0.1\n" * 8 + "0.1\n" * 3 + "0.0\n" * 2 + "1\n0\n"      # l c b, main, extra, state, text


def write(path, text):
    path.write_text(text)
    return path


@pytest.mark.parametrize("name, text, line, what", [
    ("gmm", GMM.replace("2.0", "inf"), 6, "the points must be finite, got 'inf'"),
    ("gmm", GMM.replace("0.5", "NaN"), 2, "the weights α must be finite, got 'NaN'"),
    ("ba", BA.replace("0.9", "-inf"), 4, "the weight must be finite, got '-inf'"),
    ("lstm", LSTM.replace("0.0\n", "1e999\n", 1), 13, "the state must be finite, got '1e999'"),
])
def test_adbench_readers_refuse_non_finite_values(tmp_path, name, text, line, what):
    path = write(tmp_path / "bad.txt", text)
    assert refused(lambda: ad.instance(name, data=path)) == f"{path}: line {line}: {what}"


@pytest.mark.parametrize("name, text", [("gmm", GMM), ("ba", BA), ("lstm", LSTM)])
def test_adbench_readers_refuse_bytes_that_are_not_utf8(tmp_path, name, text):
    ad.instance(name, data=write(tmp_path / "ok.txt", text))          # valid before the damage
    path = tmp_path / "bad.txt"
    path.write_bytes(text.replace("\n", "\n\xff", 1).encode("latin-1"))
    assert refused(lambda: ad.instance(name, data=path)) == \
        f"{path}: line 2: byte 0xff is not UTF-8 text; a data file is UTF-8 (or ASCII) text"


def identity_row() -> str:
    return ":".join(["1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1", "0", "0", "0", "0", "1"])


def write_hand(folder, us: bool = False):
    """A valid ADBench hand instance (two points) and its model: identity bones, three vertices
    on the forearm, two triangles."""
    model = folder / "model"
    model.mkdir()
    (model / "bones.txt").write_text("".join(f"bone{b}:{p}:{identity_row()}:{identity_row()}\n"
                                             for b, p in enumerate(hand.PARENTS)))
    (model / "vertices.txt").write_text("1:0:0:0:0:0:0:0:1:21:1.0\n0:2:0:0:0:0:0:0:1:21:1.0\n"
                                        "0:0:3:0:0:0:0:0:1:21:0.5\n")
    (model / "triangles.txt").write_text("0:1:2\n2:1:0\n")
    path = folder / "hand.txt"
    path.write_text("2 26\n0 0.1 0.2 0.3\n1 0.4 0.5 0.6\n" + ("0.2 0.3\n0.4 0.1\n" if us else "")
                    + "0.1\n" * 26)
    ad.instance("ht", data=path)                                      # valid before the damage
    return path


def replace_line(path, line: int, text: str):
    lines = path.read_text().splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize("file, line, text, message", [
    ("hand.txt", 2, "0 0.1 nan 0.3", "a point coordinate must be finite, got 'nan'"),
    ("hand.txt", 6, "inf", "a parameter must be finite, got 'inf'"),                  # a us value
    ("hand.txt", 30, "-Infinity", "a parameter must be finite, got '-Infinity'"),     # the last of θ
    ("model/bones.txt", 3, f"bone2:1:{identity_row()}:" + identity_row().replace("0", "nan", 1),
     "a matrix entry must be finite, got 'nan'"),
    ("model/vertices.txt", 2, "0:inf:0:0:0:0:0:0:1:21:1.0", "a coordinate must be finite, got 'inf'"),
    ("model/vertices.txt", 3, "0:0:3:0:0:0:0:0:1:21:nan", "a weight must be finite, got 'nan'"),
])
def test_hand_reader_refuses_non_finite_values(tmp_path, file, line, text, message):
    path = write_hand(tmp_path, us=True)
    replace_line(tmp_path / file, line, text)
    assert refused(lambda: ad.instance("ht", data=path)) == f"ht: {tmp_path / file}:{line}: {message}"


@pytest.mark.parametrize("file", ["hand.txt", "model/bones.txt", "model/vertices.txt", "model/triangles.txt"])
def test_hand_reader_refuses_bytes_that_are_not_utf8(tmp_path, file):
    path = write_hand(tmp_path, us=True)
    damaged = tmp_path / file
    damaged.write_bytes(damaged.read_bytes().replace(b"\n", b"\n\xe9", 1))
    kind = "data file" if file == "hand.txt" else "model file"
    assert refused(lambda: ad.instance("ht", data=path)) == \
        f"ht: {damaged}: line 2: byte 0xe9 is not UTF-8 text; a {kind} is UTF-8 (or ASCII) text"


# --- 3. a path of the wrong kind is named as what it is ---------------------------------------------
def test_data_path_that_is_a_directory_empty_or_not_a_path(tmp_path):
    assert refused(lambda: ad.vjp("gmm", data=tmp_path)) == f"gmm: {tmp_path} is a directory, not a data file"
    assert refused(lambda: ad.vjp("gmm", data="")) == "gmm: the data file is an empty path"
    assert refused(lambda: ad.instance("ba", data=3)) == "ba: data must be a file path, got 3"
    assert refused(lambda: ad.instance("ba", data=tmp_path / "nope.txt")) == \
        f"ba: data file {tmp_path / 'nope.txt'} does not exist"
    for text in ("", " \n\n"):
        empty = write(tmp_path / "empty.txt", text)
        assert refused(lambda: ad.instance("lstm", data=empty)) == f"{empty} is empty"
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)                 # reading it would wait for a writer forever
    assert refused(lambda: ad.instance("gmm", data=fifo)) == f"gmm: {fifo} is not a regular file, so not a data file"


def test_hand_model_paths_of_the_wrong_kind(tmp_path):
    path = write_hand(tmp_path, us=True)
    model = tmp_path / "model"
    (model / "triangles.txt").write_text("\n")
    assert refused(lambda: ad.instance("ht", data=path)) == f"ht: {model / 'triangles.txt'} is empty"
    (model / "bones.txt").unlink()
    (model / "bones.txt").mkdir()
    assert refused(lambda: ad.instance("ht", data=path)) == \
        f"ht: {model / 'bones.txt'} is a directory, not a model file"
    for child in model.rglob("*.txt"):
        child.rmdir() if child.is_dir() else child.unlink()
    model.rmdir()
    model.write_text("not a folder\n")
    assert refused(lambda: ad.instance("ht", data=path)) == (
        f"ht: the model folder {model} is a file, not a folder (ADBench keeps bones.txt, vertices.txt "
        "and triangles.txt in model/ beside the instance files)")


def test_data_directory_on_the_command_line(tmp_path):
    line = one_line_exit_2(adcompare("vjp", "gmm", "--data", str(tmp_path)))
    assert line == f"adcompare: error: gmm: {tmp_path} is a directory, not a data file"


# --- 4. a header's counts meet the file's length before anything of that size is allocated -------
def small_peak(call) -> str:
    """The message `call` refuses with, checked to have allocated under 4 MB on the way."""
    tracemalloc.start()
    try:
        message = refused(call)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 * 2**20, f"allocated {peak / 2**20:.0f} MiB before refusing"
    return message


def test_numbers_checks_a_count_before_allocating(tmp_path):
    path = write(tmp_path / "short.txt", "1 2\n3\n")
    numbers = Numbers(path)
    assert small_peak(lambda: numbers.floats(10**9, "the points")) == \
        f"{path}: line 2: the file ends after 3 of the 1000000000 numbers of the points"


@pytest.mark.parametrize("name, text, message", [
    # 1 layer of 10⁶ bits: 8·10⁶ main parameters announced, 4 numbers in the file
    ("lstm", "1 2 1000000\n0.1 0.2\n0.3 0.4\n",
     "line 3: the file ends after 4 of the 8000000 numbers of the main parameters"),
    # 10⁶ points announced (8 MB; 10⁸ would be refused for memory first), two in the file (one
    # point, replicated, is ADBench's other layout)
    ("gmm", GMM.replace("1 1 2", "1 1 1000000"),
     "line 4: after the parameters, expected 1000000 points of 1 numbers (or one point, replicated) "
     "and then 'γ m': found 4 numbers"),
])
def test_headers_larger_than_the_file(tmp_path, name, text, message):
    path = write(tmp_path / "big.txt", text)
    assert small_peak(lambda: ad.instance(name, data=path)) == f"{path}: {message}"


def test_hand_header_larger_than_the_file(tmp_path):
    path = write_hand(tmp_path)
    replace_line(path, 1, "1000000 26")        # 10⁹ would be refused for memory first
    assert small_peak(lambda: ad.instance("ht", data=path)) == \
        f"ht: {path}:29: the file ends within the 1000000 correspondence lines"


# --- 5. numeric values of the product commands are finite and in range ----------------------------
@pytest.mark.parametrize("text, flag, message", [
    ("1,nan", "x", "--x: number 2 of 2 is 'nan', which is not a finite float64"),
    ("inf", "v", "--v: number 1 of 1 is 'inf', which is not a finite float64"),
    ("1e400, 2", "t", "--t: number 1 of 2 is '1e400', which is not a finite float64"),
    ("1,,2", "x", "--x: '1,,2' is not a comma-separated list of numbers"),
])
def test_vectors_are_finite_numbers(text, flag, message):
    assert refused(lambda: parse_numbers(text, flag)) == message


@pytest.mark.parametrize("call, message", [
    (lambda: ad.vjp("square", n=0), "square: n must be at least 1, got 0"),
    (lambda: ad.vjp("square", n=-3), "square: n must be at least 1, got -3"),
    (lambda: ad.vjp("square", n=2**63), f"square: n must be at most {INT64_MAX} (an int64), got {2**63}"),
    (lambda: ad.vjp("lorenz96", steps=0), "lorenz96: option steps must be at least 1, got 0"),
    (lambda: ad.jvp("affine", n=2, m=10**30), f"affine: option m must be at most {INT64_MAX} (an int64), got {10**30}"),
])
def test_sizes_and_options_are_in_range(call, message):
    assert refused(call) == message


def test_n_is_a_plain_integer():
    assert plain_int(" 12") == 12
    for text in ("1_0", "١٢", "1.0", "0x10"):
        with pytest.raises(ValueError):
            plain_int(text)


@pytest.mark.parametrize("args, message", [
    (["vjp", "square", "--x", "1,nan"], "--x: number 2 of 2 is 'nan', which is not a finite float64"),
    (["vjp", "square", "--n", "99999999999999999999"],
     f"square: n must be at most {INT64_MAX} (an int64), got 99999999999999999999"),
    (["jvp", "lorenz96", "--opt", "steps=0"], "lorenz96: option steps must be at least 1, got 0"),
])
def test_numbers_on_the_command_line(args, message):
    assert one_line_exit_2(adcompare(*args)) == f"adcompare: error: {message}"
