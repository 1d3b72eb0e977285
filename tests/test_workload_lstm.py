"""The `lstm` workload: ADBench's LSTM loss, its flat x order and gate order, the generated text,
and ADBench's data file.

The value oracle is a scalar transcription of ADBench's C++ objective (element by element, the
state copied once and carried across time steps), written here independently of the
vectorised problem. The gradient is held against central differences (float64, the problem's
`fd_rtol`) and the adjoint identity, through the public API on every backend that runs here.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

import adcompare as ad
from adcompare import oracles
from adcompare.backends import backend_names, get_backend
from adcompare.errors import UserError
from adcompare.operators import OPERATORS
from adcompare.problems import get_problem
from adcompare.problems.lstm import text_bits

SMALL = {"l": 2, "b": 3, "c": 5}


def last_hidden_states(x, state, sequence) -> list[list[float]]:
    """ADBench's recurrence, element by element: f, i, o, g from [forget|input|output|change],
    the state carried across steps; the last layer's hidden state after each of the c − 1 steps."""
    c, b = sequence.shape
    l = state.shape[0] // 2
    main, extra = x[:8 * l * b], x[8 * l * b:]
    hidden = [list(state[2 * j]) for j in range(l)]
    cell = [list(state[2 * j + 1]) for j in range(l)]

    def sigmoid(z):
        return 1 / (1 + math.exp(-z))

    tops = []
    for t in range(c - 1):
        layer_input = [sequence[t, k] * extra[k] for k in range(b)]
        for j in range(l):
            weight, bias = main[8 * b * j:8 * b * j + 4 * b], main[8 * b * j + 4 * b:8 * b * (j + 1)]
            for k in range(b):
                forget = sigmoid(layer_input[k] * weight[k] + bias[k])
                ingate = sigmoid(hidden[j][k] * weight[b + k] + bias[b + k])
                outgate = sigmoid(layer_input[k] * weight[2 * b + k] + bias[2 * b + k])
                change = math.tanh(hidden[j][k] * weight[3 * b + k] + bias[3 * b + k])
                cell[j][k] = cell[j][k] * forget + ingate * change
                hidden[j][k] = outgate * math.tanh(cell[j][k])
            layer_input = hidden[j]
        tops.append(list(layer_input))
    return tops


def adbench_loss(x, state, sequence) -> float:
    """ADBench's objective: the prediction ŷ = h·out_w + out_b of every step against the next bits."""
    c, b = sequence.shape
    out_w, out_b = x[-2 * b:-b], x[-b:]
    total = 0.0
    for t, top in enumerate(last_hidden_states(x, state, sequence)):
        prediction = [top[k] * out_w[k] + out_b[k] for k in range(b)]
        lse = math.log(sum(math.exp(p) for p in prediction) + 2)
        total += sum(sequence[t + 1, k] * (prediction[k] - lse) for k in range(b))
    return -total / ((c - 1) * b)


def loss_of(inst, x) -> float:
    return adbench_loss(x, inst.constants["state"], inst.constants["sequence"])


def runs_here(backend: str, operator: str, inst) -> None:
    reason = get_backend(backend).why_not(OPERATORS[operator], inst, "cpu", "float64")
    if reason:
        pytest.skip(reason)


# --- sizes, data and values ------------------------------------------------------------------------
def test_sizes_follow_the_options():
    inst = ad.instance("lstm", l=3, b=5, c=7)
    assert (inst.n, inst.m) == (8 * 3 * 5 + 3 * 5, 1)
    assert inst.constants["state"].shape == (6, 5) and inst.constants["sequence"].shape == (7, 5)
    with pytest.raises(UserError, match="at least 2"):
        ad.instance("lstm", c=1)
    sweep = get_problem("lstm").sweep()
    assert {kw["l"] for kw in sweep} == {2, 4} and {kw["b"] for kw in sweep} == {14}
    assert min(kw["c"] for kw in sweep) <= 16 and max(kw["c"] for kw in sweep) <= 256


def test_text_bits_most_significant_first():
    np.testing.assert_array_equal(text_bits(np.array([ord("A"), ord("z")]), 8),
                                  [[0, 1, 0, 0, 0, 0, 0, 1], [0, 1, 1, 1, 1, 0, 1, 0]])
    np.testing.assert_array_equal(text_bits(np.array([ord("A")]), 2), [[0, 1]])      # the low bits


def test_generated_text_is_printable_ascii_in_b_bits():
    inst = ad.instance("lstm", l=1, b=14, c=200)
    bits = inst.constants["sequence"]
    assert set(np.unique(bits)) == {0.0, 1.0}
    codes = bits @ (2 ** np.arange(13, -1, -1))
    assert codes.min() >= 32 and codes.max() <= 126
    again = ad.instance("lstm", l=1, b=14, c=200)
    np.testing.assert_array_equal(again.constants["sequence"], bits)                   # deterministic
    assert np.all((0 <= inst.x0) & (inst.x0 < 1))


def test_loss_at_zero_parameters():
    """x = 0: every prediction is 0, so loss = (Σ_{t ≥ 2} Σ_k s_tk) · log(b + 2) / ((c − 1) b)."""
    inst = ad.instance("lstm")
    l, b, c = inst.options["l"], inst.options["b"], inst.options["c"]
    expected = inst.constants["sequence"][1:].sum() * math.log(b + 2) / ((c - 1) * b)
    np.testing.assert_allclose(ad.primal("lstm", np.zeros(inst.n)), [expected], rtol=1e-14)


@pytest.mark.parametrize("options", [{}, SMALL, {"l": 4, "b": 14, "c": 64}])
def test_loss_matches_adbench(options):
    inst = ad.instance("lstm", **options)
    x_random = np.random.default_rng(3).uniform(-1, 1, inst.n)
    for x in (inst.x0, x_random):
        np.testing.assert_allclose(ad.primal("lstm", x, **options), [loss_of(inst, x)], rtol=1e-13)


# --- the order contracts -----------------------------------------------------------------------------
def test_gate_order_and_which_input_each_gate_reads():
    """Bits that are 0 in every input character give the first layer's input u_k = 0, so the
    forget and output weights of layer 0 (which multiply u) have zero gradient there, while
    the input and change weights (which multiply h) and in_w's neighbours do not."""
    inst = ad.instance("lstm")                # b = 14: printable ASCII leaves bits 0 … 6 at 0
    b = inst.options["b"]
    silent = np.flatnonzero(inst.constants["sequence"][:-1].sum(axis=0) == 0)
    assert silent.tolist() == list(range(7))
    grad = ad.vjp("lstm", inst.x0)
    forget, ingate, outgate, change = (grad[g * b:(g + 1) * b] for g in range(4))    # row 0
    in_w = grad[8 * inst.options["l"] * b:][:b]
    assert np.all(forget[silent] == 0) and np.all(outgate[silent] == 0) and np.all(in_w[silent] == 0)
    assert np.all(ingate[silent] != 0) and np.all(change[silent] != 0)
    assert np.all(forget[7:] != 0) and np.all(outgate[7:] != 0)


def test_extra_parameters_meet_the_last_layer():
    """x ends with in_w, out_w, out_b. With ŷ_t = h_t·out_w + out_b (h_t the last layer's hidden
    state) and π_t = exp ŷ_t / (Σ exp ŷ_t + 2),
    ∂loss/∂out_b = −Σ_t (s_{t+1} − π_t Σ_k s_{t+1,k}) / ((c − 1) b), and ∂loss/∂out_w is the
    same sum with each term times h_t."""
    inst = ad.instance("lstm", **SMALL)
    b, c = SMALL["b"], SMALL["c"]
    x = np.random.default_rng(6).uniform(-1, 1, inst.n)
    tops = np.array(last_hidden_states(x, inst.constants["state"], inst.constants["sequence"]))
    prediction = tops * x[-2 * b:-b] + x[-b:]
    pi = np.exp(prediction) / (np.exp(prediction).sum(axis=1, keepdims=True) + 2)
    following = inst.constants["sequence"][1:]
    terms = -(following - pi * following.sum(axis=1, keepdims=True)) / ((c - 1) * b)
    grad = ad.vjp("lstm", x, **SMALL)
    np.testing.assert_allclose(grad[-b:], terms.sum(axis=0), rtol=1e-13)
    np.testing.assert_allclose(grad[-2 * b:-b], (terms * tops).sum(axis=0), rtol=1e-13)


# --- the gradient -----------------------------------------------------------------------------------
@pytest.mark.parametrize("options", [{}, SMALL])
def test_gradient_matches_finite_differences(options):
    inst = ad.instance("lstm", **options)
    x = np.random.default_rng(4).uniform(-1, 1, inst.n)
    fd = oracles.fd_jacobian(inst, x)[0]
    for mode in ("fwd", "rev"):
        jac = ad.jacobian("lstm", x, mode=mode, **options)
        assert jac.shape == (1, inst.n)
        assert oracles.relative_error(jac[0], fd) < inst.problem.fd_rtol
    assert oracles.relative_error(ad.vjp("lstm", x, **options), fd) < inst.problem.fd_rtol


@pytest.mark.parametrize("backend", backend_names())
def test_backends_agree_with_the_engine_and_the_adjoint_identity(backend):
    inst = ad.instance("lstm", **SMALL)
    runs_here(backend, "vjp", inst)
    runs_here(backend, "jvp", inst)
    x = np.random.default_rng(5).uniform(-1, 1, inst.n)
    v, t = np.array([0.7]), oracles.random_direction(inst.n, 2)
    vj = ad.vjp("lstm", x, v, backend=backend, **SMALL)
    jt = ad.jvp("lstm", x, t, backend=backend, **SMALL)
    fd = oracles.fd_jacobian(inst, x)[0]
    assert oracles.relative_error(vj, 0.7 * fd) < inst.problem.fd_rtol
    assert oracles.relative_error(vj, ad.vjp("lstm", x, v, **SMALL)) < oracles.AD_RTOL["float64"]
    assert oracles.relative_error(jt, ad.jvp("lstm", x, t, **SMALL)) < oracles.AD_RTOL["float64"]
    assert oracles.adjoint_gap(v, jt, vj, t) <= oracles.ADJOINT_RTOL["float64"]
    np.testing.assert_allclose(ad.primal("lstm", x, backend=backend, **SMALL), [loss_of(inst, x)], rtol=1e-13)


# --- ADBench's data file -----------------------------------------------------------------------------
def adbench_file(l, c, b, seed=0) -> tuple[str, dict]:
    """The layout of ADBench's generator: header, blank line, then each block's rows and a blank."""
    rng = np.random.default_rng(seed)
    blocks = {"main": rng.random((2 * l, 4 * b)), "extra": rng.random((3, b)),
              "state": rng.random((2 * l, b)), "sequence": text_bits(rng.integers(32, 127, c), b)}
    rows = ["".join(" ".join(repr(float(v)) for v in row) + "\n" for row in block) for block in blocks.values()]
    text = f"{l} {c} {b}\n\n" + "".join(block + "\n" for block in rows)
    return text, blocks


def test_reads_adbench_file(tmp_path):
    text, blocks = adbench_file(2, 6, 3)
    path = tmp_path / "lstm_l2_c6.txt"
    path.write_text(text)
    inst = ad.instance("lstm", data=path)
    assert dict(inst.options) == {"l": 2, "b": 3, "c": 6} and inst.n == 8 * 2 * 3 + 3 * 3
    np.testing.assert_array_equal(inst.x0, np.concatenate([blocks["main"].ravel(), blocks["extra"].ravel()]))
    np.testing.assert_array_equal(inst.constants["state"], blocks["state"])
    np.testing.assert_array_equal(inst.constants["sequence"], blocks["sequence"])
    expected = adbench_loss(inst.x0, blocks["state"], blocks["sequence"])
    np.testing.assert_allclose(ad.primal("lstm", data=path), [expected], rtol=1e-13)
    flat = tmp_path / "flat.txt"                      # fscanf's view: layout carries no meaning
    flat.write_text(" ".join(text.split()))
    np.testing.assert_array_equal(ad.primal("lstm", data=flat), ad.primal("lstm", data=path))


def bad_files():
    text, _ = adbench_file(1, 2, 2)
    lines = text.splitlines()              # 1 header, 2 blank, 3-4 main, 5 blank, 6-8 extra, ...
    truncated = "\n".join(lines[:-2]) + "\n"
    wrong = "\n".join(lines[:6] + ["0.5 zero"] + lines[7:]) + "\n"
    return [
        ("1 2\n", r"line 1: the file ends after 2 of the 3 numbers of the sizes"),
        ("1 1 2\n", r"line 1: the sequence length c must be at least 2, got 1"),
        ("1 -2 2\n", r"line 1: the sizes .* must be positive integers, got -2"),
        (truncated, r"line \d+: the file ends after 2 of the 4 numbers of the sequence"),
        (wrong, r"line 7: the extra parameters must be numbers, got 'zero'"),
        (text + "1\n", rf"line {len(lines) + 1}: unexpected '1' after the sequence"),
        ("4 100000000000 14\n", r"line 1: lstm: .* GiB"),
    ]


@pytest.mark.parametrize("text, message", bad_files())
def test_malformed_files_name_the_file_and_the_line(tmp_path, text, message):
    path = tmp_path / "bad.txt"
    path.write_text(text)
    with pytest.raises(UserError, match=message) as err:
        ad.instance("lstm", data=path)
    assert str(err.value).startswith(str(path)) and "\n" not in str(err.value)
