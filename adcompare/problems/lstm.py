import numpy as np

from adcompare import footprint
from adcompare.datafile import Numbers
from adcompare.errors import UserError
from adcompare.problems.registry import DataFile, Problem, guard_memory, register

GATES = 4                       # forget, input, output, change: the order inside a 4b row
# The generator of the default parameters x0 ~ U[0, 1) (ADBench draws them uniformly too); the
# state and the text come from the instance's seed.
PARAMETER_SEED = 1024
# The generated text: printable ASCII, each character written as its low b bits.
TEXT_CODES = (32, 127)


@register
class LSTM(Problem):
    """ADBench's LSTM loss (GradBench `lstm`): l layers, b bits per character, a text of c
    characters; R^{8lb + 3b} → R.

    x = (main_params: 2l rows of 4b, row 2j the weights and row 2j+1 the biases of layer j, each
    [forget | input | output | change]; extra_params: 3 rows of b, [in_w, out_w, out_b]). The
    state (h_j, c_j of every layer, rows 2j and 2j+1) and the sequence s_1 … s_c (c × b bits)
    are constants. The weights are diagonal (elementwise), σ(z) = 1 / (1 + exp(−z)):

      for t = 1 … c − 1:   u = s_t · in_w, then for each layer j in turn:
        f = σ(u·W_f + b_f),  i = σ(h_j·W_i + b_i),  o = σ(u·W_o + b_o),  g = tanh(h_j·W_c + b_c),
        c_j ← c_j·f + i·g,   h_j ← o·tanh(c_j),   u ← h_j
      ŷ_t = u·out_w + out_b,
      loss = −Σ_t Σ_k s_{t+1,k} (ŷ_{t,k} − log(Σ_k' exp ŷ_{t,k'} + 2)) / ((c − 1)·b).

    The forget and output gates read the layer's input, the input and change gates its hidden
    state; the state carries over from step to step; "+ 2" is ADBench's. A recurrence c − 1
    steps deep (`xp.fori_loop`, the loss summed step by step in its carry) with a scalar output:
    a gradient costs one reverse pass, whose recording grows with c.
    """

    name = "lstm"
    summary = "ADBench's LSTM loss: l layers, b-bit characters, c-long text; gradient of a scalar"
    test_size = 38                  # l = b = c = 2, the instance `adcompare check` uses
    options = {"l": 2, "b": 14, "c": 16}
    depth_option = "c"
    field_derivatives = ("vjp",)    # ADBench and GradBench time the objective and its gradient

    def f(self, xp, x, c):
        state, text = c["state"], c["sequence"]
        layers, bits = state.shape[0] // 2, state.shape[1]
        pieces = [x[k * bits:(k + 1) * bits] for k in range(2 * layers * GATES + 3)]   # rows of b
        weights = [pieces[2 * j * GATES:(2 * j + 1) * GATES] for j in range(layers)]
        biases = [pieces[(2 * j + 1) * GATES:(2 * j + 2) * GATES] for j in range(layers)]
        in_w, out_w, out_b = pieces[-3:]
        steps = text.shape[0] - 1

        def step(t, carry):
            """One character: the layers in turn, then its prediction's term of the loss (the
            carry: each layer's hidden and cell state, and the loss summed so far)."""
            hidden, cell, total = list(carry[:layers]), list(carry[layers:-1]), carry[-1]
            u = text[t] * in_w
            for j in range(layers):
                (w_f, w_i, w_o, w_c), (b_f, b_i, b_o, b_c) = weights[j], biases[j]
                forget = _sigmoid(xp, u * w_f + b_f)
                ingate = _sigmoid(xp, hidden[j] * w_i + b_i)
                outgate = _sigmoid(xp, u * w_o + b_o)
                change = xp.tanh(hidden[j] * w_c + b_c)
                cell[j] = cell[j] * forget + ingate * change
                hidden[j] = outgate * xp.tanh(cell[j])
                u = hidden[j]
            prediction = u * out_w + out_b
            normaliser = xp.log(xp.sum(xp.exp(prediction)) + 2.0)
            return (*hidden, *cell, total + xp.sum(text[t + 1] * (prediction - normaliser)))

        start = (*(state[2 * j] for j in range(layers)), *(state[2 * j + 1] for j in range(layers)),
                 xp.sum(xp.zeros_like(out_b)))
        total = xp.fori_loop(0, steps, step, start)[-1]
        return xp.reshape(-total / (steps * bits), (1,))

    def output_size(self, n, **opts):
        return 1

    def input_size(self, l, b, c, **opts):
        return 2 * l * GATES * b + 3 * b

    def check_size(self, n, l, b, c, **opts):
        if c < 2:
            raise UserError(f"lstm: the sequence length c must be at least 2 (the loss predicts "
                            f"character t + 1 from character t), got {c}")

    def main_instance(self):
        # The shortest swept sequence: at c = 64 one process of eager jax took 29 s.
        return {"l": 2, "b": 14, "c": 16}

    def sweep(self):
        # ADBench's layer counts; sequences far shorter than its 1024 and 4096, because compiled
        # backends unroll the time loop (the long ones are for the wide grid).
        return [{"l": l, "b": 14, "c": c} for l in (2, 4) for c in (16, 64, 256)]

    def working_elements(self, n, l, b, c, **opts):
        return n            # x itself: every array the loop builds holds at most b elements

    def evaluation(self, n, l, b, c, **opts):
        # Per character 26 arrays of ≤ b elements a layer (four gates, the cell and hidden
        # updates) and 11 for its input and its term of the loss, plus x's 8l + 3 rows: counted
        # on our engine's tape (l = 4, b = 4, c = 20: 2 223 arrays, 8 598 elements), with room
        # for a framework's copy or two.
        arrays = (c - 1) * (12 + 28 * l) + 8 * l + 16
        return footprint.Evaluation(arrays, b * arrays)

    def constant_elements(self, n, l, b, c, **opts):
        return 2 * l * b + c * b

    def constants(self, n, rng, l, b, c, **opts):
        codes = rng.integers(*TEXT_CODES, size=c)
        return {"state": rng.random((2 * l, b)), "sequence": text_bits(codes, b)}

    def default_x(self, n, l, b, c, **opts):
        return np.random.default_rng([PARAMETER_SEED, l, b]).random(n)

    def read_data(self, path):
        """ADBench's format: `l c b`, then main params (2l × 4b), extra params (3 × b), state
        (2l × b) and the sequence (c × b), whitespace-separated."""
        numbers = Numbers(path)
        l, c, b = numbers.ints(3, "the sizes (layers, characters, bits)")
        options = {"l": l, "b": b, "c": c}
        n = self.input_size(**options)
        if c < 2:
            raise UserError(f"{path}: line {numbers.line}: the sequence length c must be at least 2, got {c}")
        try:      # before allocating what the header announces (or evaluating on it)
            guard_memory(self.name, n, 1, self.constant_elements(n, **options), problem=self, options=options)
        except UserError as err:
            raise UserError(f"{path}: line {numbers.line}: {err}") from None
        main = numbers.floats(2 * l * GATES * b, "the main parameters")
        extra = numbers.floats(3 * b, "the extra parameters")
        state = numbers.floats(2 * l * b, "the state")
        sequence = numbers.floats(c * b, "the sequence")
        numbers.end("the sequence")
        constants = {"state": state.reshape(2 * l, b), "sequence": sequence.reshape(c, b)}
        return DataFile(options, constants, np.concatenate([main, extra]))


def _sigmoid(xp, z):
    return 1.0 / (1.0 + xp.exp(-z))


def text_bits(codes: np.ndarray, bits: int) -> np.ndarray:
    """Character codes as rows of their low `bits` bits, most significant first (0.0 / 1.0)."""
    shifts = np.arange(bits - 1, -1, -1)
    return ((np.asarray(codes)[:, None] >> shifts) & 1).astype(np.float64)
