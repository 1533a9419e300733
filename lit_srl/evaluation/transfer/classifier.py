"""SentEval's classifier for transfer tasks: logistic regression trained with early stopping.

A linear layer on fixed sentence features, no hidden layer (SentEval's ``MLP`` with
``nhid=0``, ``senteval/tools/classifier.py``)::

    logits = x Wᵀ + b            x: (B, D) features, W: (C, D), b: (C,)
    loss   = mean_i CE(logits_i, y_i)
    update = optimizer step on g + λ·θ for θ ∈ {W, b}   (torch's ``weight_decay = λ``, the L2)

Initialised as ``nn.Linear`` (U(−1/√D, 1/√D) for W and b), trained for ``epoch_size`` passes over
the shuffled training set between evaluations on the validation set; the weights with the best
validation accuracy are kept; training stops once the validation accuracy has failed to improve
more than ``tenacity`` times, or after ``max_epoch`` passes. The two settings SimCSE runs
(``evaluation.py``) are :data:`MODES`.

Deliberate differences from SentEval (none changes what is computed):

- Randomness is local: a ``numpy.random.RandomState(seed)`` for the shuffles and a
  ``torch.Generator`` seeded with ``seed`` for the initial weights, drawn in SentEval's order,
  instead of re-seeding the global generators (``np.random.seed``, ``torch.manual_seed``).
- The loss is the mean over the batch. SentEval sets ``size_average = False`` on its loss after
  construction, which the PyTorch versions SimCSE ran (≥ 1.x) ignore: it trained on the mean too.
- The classifier trains on the device of its features (the model's), not always on CUDA.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import numpy as np
import torch

from lit_srl.errors import check_choice

#: SentEval's L2 grid for its PyTorch classifier: 10⁻⁵ … 10⁻².
L2_GRID = (1e-5, 1e-4, 1e-3, 1e-2)
#: The share of the training set held out for early stopping when no validation set is given.
VALIDATION_FRACTION = 0.05
OPTIMIZERS = ("adam", "rmsprop")


@dataclass(frozen=True)
class ClassifierSettings:
    """One protocol mode: optimizer (torch's defaults, as SentEval's ``get_optimizer``: Adam lr
    1e-3, RMSprop lr 1e-2), batch size, tenacity, passes per evaluation, the maximum number of
    passes and the number of cross-validation folds."""

    optimizer: str
    batch_size: int
    tenacity: int
    epoch_size: int
    folds: int
    max_epoch: int = 200

    def __post_init__(self) -> None:
        check_choice("optimizer", self.optimizer, OPTIMIZERS)


#: SimCSE's ``--mode test`` (``full``) and ``--mode dev``/``fasttest`` (``fast``).
MODES = {
    "full": ClassifierSettings("adam", batch_size=64, tenacity=5, epoch_size=4, folds=10),
    "fast": ClassifierSettings("rmsprop", batch_size=128, tenacity=3, epoch_size=2, folds=5),
}


@contextlib.contextmanager
def one_cpu_thread(device: torch.device):
    """One intra-op thread while training on the CPU: a step is a (B, D) × (D, C) product, too
    small to split, and on a CPU shared with other jobs a second thread spin-waits (measured on
    this project's 2-core machine under load: 186 µs a step with one thread, 15.8 ms with two)."""
    if device.type != "cpu" or torch.get_num_threads() == 1:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


class LogisticRegression:
    """A linear softmax classifier on (n, D) float32 features, trained as SentEval trains it.

    Args:
        dim: feature size D.
        n_classes: C.
        l2: weight decay λ of the optimizer (on W and b).
        settings: a :class:`ClassifierSettings` (see :data:`MODES`).
        seed: seeds the initial weights and the shuffles.
        device: where the weights live; features passed in must be there too.
    """

    def __init__(self, dim: int, n_classes: int, l2: float, settings: ClassifierSettings, seed: int = 1111,
                 device: torch.device | str = "cpu") -> None:
        self.settings, self.l2, self.n_classes = settings, l2, n_classes
        self.rng = np.random.RandomState(seed)
        generator = torch.Generator().manual_seed(seed)
        weight = torch.empty(n_classes, dim)
        torch.nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)  # as nn.Linear
        bias = torch.empty(n_classes).uniform_(-1 / math.sqrt(dim), 1 / math.sqrt(dim), generator=generator)
        self.weight = weight.to(device).requires_grad_()
        self.bias = bias.to(device).requires_grad_()
        optimizer = torch.optim.Adam if settings.optimizer == "adam" else torch.optim.RMSprop
        self.optimizer = optimizer([self.weight, self.bias], weight_decay=l2)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(n, D) → (n, C)."""
        return torch.addmm(self.bias, x, self.weight.t())

    @torch.no_grad()
    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """The most likely class of each row: (n,) int64 (the first on ties, as ``max(1)``)."""
        return self.logits(x).argmax(dim=1)

    def accuracy(self, x: torch.Tensor, y: torch.Tensor) -> float:
        """The fraction of rows whose predicted class is ``y``."""
        return float((self.predict(x) == y).double().mean()) if len(y) else 0.0

    def _train_passes(self, x: torch.Tensor, y: torch.Tensor, passes: int) -> None:
        batch = self.settings.batch_size
        for _ in range(passes):
            order = torch.from_numpy(self.rng.permutation(len(x))).to(x.device)
            for start in range(0, len(x), batch):
                idx = order[start:start + batch]
                loss = torch.nn.functional.cross_entropy(self.logits(x[idx]), y[idx])
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                self.optimizer.step()

    def fit(self, x: torch.Tensor, y: torch.Tensor, valid: tuple[torch.Tensor, torch.Tensor] | None = None) -> float:
        """Train with early stopping on ``valid`` (else on a random 5% of ``x``, which is then not
        trained on); keep the best weights; return their validation accuracy.

        SentEval's loop: a pass of ``epoch_size`` epochs, then an evaluation; a better accuracy
        (strictly) replaces the kept weights; otherwise the count of failures goes up, and the run
        ends at the first failure after ``tenacity`` earlier ones (failures are counted over the
        whole run, not only in a row). At most ``max_epoch`` (+ one pass) epochs.
        """
        with one_cpu_thread(x.device):
            return self._fit(x, y, valid)

    def _fit(self, x: torch.Tensor, y: torch.Tensor, valid: tuple[torch.Tensor, torch.Tensor] | None) -> float:
        if valid is None:
            permutation = torch.from_numpy(self.rng.permutation(len(x))).to(x.device)
            n_valid = int(VALIDATION_FRACTION * len(x))
            valid = (x[permutation[:n_valid]], y[permutation[:n_valid]])
            x, y = x[permutation[n_valid:]], y[permutation[n_valid:]]
        best, best_state, failures, epochs = -1.0, None, 0, 0
        while epochs <= self.settings.max_epoch:
            self._train_passes(x, y, self.settings.epoch_size)
            epochs += self.settings.epoch_size
            accuracy = self.accuracy(*valid)
            if accuracy > best:
                best, best_state = accuracy, (self.weight.detach().clone(), self.bias.detach().clone())
            else:
                if failures >= self.settings.tenacity:
                    break
                failures += 1
        with torch.no_grad():
            self.weight.copy_(best_state[0])
            self.bias.copy_(best_state[1])
        return best
