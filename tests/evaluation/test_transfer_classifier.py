"""The transfer classifier and its validation schemes against an independent scikit-learn reference.

Synthetic embeddings with known structure: Gaussian classes around random centres (overlapping
enough that accuracy is well below 1). scikit-learn's LogisticRegression gets the same folds and
the same L2 grid (its C = 1 / (λ · n_train) is the same penalty as weight decay λ on the mean
cross-entropy) and the same selection rule; our early-stopped Adam/RMSprop classifier must reach
its accuracy within a few points, and give identical numbers when run twice.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression as SkLogisticRegression
from sklearn.model_selection import StratifiedKFold

from lit_srl.errors import LitSrlError
from lit_srl.evaluation.transfer import L2_GRID, MODES, LogisticRegression, fixed_split, inner_kfold, kfold, stratified_folds

TOLERANCE = 0.04  # accuracy points (fractions) between early-stopped SGD and the exact optimum


def gaussian_classes(n: int, dim: int, n_classes: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) float32 features, (n,) int64 labels: class c ~ N(μ_c, spread² I), μ_c ~ N(0, I)."""
    rng = np.random.RandomState(seed)
    centres = rng.randn(n_classes, dim)
    labels = rng.randint(0, n_classes, size=n)
    return (centres[labels] + spread * rng.randn(n, dim)).astype(np.float32), labels.astype(np.int64)


def sklearn_accuracy(x_train, y_train, x_test, y_test, l2: float) -> float:
    clf = SkLogisticRegression(C=1.0 / (l2 * len(y_train)), max_iter=5000)
    return float(clf.fit(x_train, y_train).score(x_test, y_test))


def sklearn_cv_l2(x, y, k: int, seed: int) -> float:
    """The λ of L2_GRID with the best mean accuracy over the same stratified folds (first on ties)."""
    scores = [round(100 * np.mean([sklearn_accuracy(x[tr], y[tr], x[te], y[te], l2) for tr, te in stratified_folds(y, k, seed)]), 2)
              for l2 in L2_GRID]
    return L2_GRID[int(np.argmax(scores))]


@pytest.mark.parametrize("n,k,n_classes", [(103, 10, 2), (500, 5, 6), (37, 5, 3), (60, 10, 2)])
def test_folds_are_scikit_learns_stratified_k_fold(n, k, n_classes):
    labels = np.random.RandomState(n).randint(0, n_classes, size=n)
    ours = stratified_folds(labels, k, seed=1111)
    theirs = list(StratifiedKFold(n_splits=k, shuffle=True, random_state=1111).split(np.zeros(n), labels))
    assert len(ours) == k
    for (train, test), (sk_train, sk_test) in zip(ours, theirs):
        np.testing.assert_array_equal(train, sk_train)
        np.testing.assert_array_equal(test, sk_test)


def test_too_few_rows_for_the_folds_is_one_line():
    with pytest.raises(LitSrlError, match="cannot split 6 rows into 5 stratified folds"):
        stratified_folds(np.array([0, 1, 0, 1, 2, 2]), 5, 1111)


def test_inner_kfold_reaches_scikit_learn_on_the_same_folds():
    x, y = gaussian_classes(500, 12, 2, spread=1.6, seed=0)
    settings = MODES["fast"]
    ours = inner_kfold(torch.from_numpy(x), y, 2, settings, seed=1111)
    reference = []
    for train, test in stratified_folds(y, settings.folds, 1111):
        l2 = sklearn_cv_l2(x[train], y[train], settings.folds, 1111)
        reference.append(sklearn_accuracy(x[train], y[train], x[test], y[test], l2))
    assert 0.6 < np.mean(reference) < 0.97  # the structure is learnable but not trivial
    assert ours["accuracy"] == pytest.approx(np.mean(reference), abs=TOLERANCE)
    assert len(ours["l2"]) == settings.folds and set(ours["l2"]) <= set(L2_GRID)


def test_kfold_reaches_scikit_learn_on_six_classes_and_is_deterministic():
    x, y = gaussian_classes(900, 16, 6, spread=1.1, seed=1)
    train, test = slice(0, 600), slice(600, 900)
    run = lambda: kfold(torch.from_numpy(x[train]), y[train], torch.from_numpy(x[test]), y[test], 6, MODES["fast"], 1111)  # noqa: E731
    first, second = run(), run()
    l2 = sklearn_cv_l2(x[train], y[train], MODES["fast"].folds, 1111)
    assert first["accuracy"] == pytest.approx(sklearn_accuracy(x[train], y[train], x[test], y[test], l2), abs=TOLERANCE)
    assert first["accuracy"] == second["accuracy"] and first["dev_accuracy"] == second["dev_accuracy"]
    np.testing.assert_array_equal(first["predictions"], second["predictions"])


def test_fixed_split_full_mode_reaches_scikit_learn():
    x, y = gaussian_classes(1000, 10, 2, spread=1.5, seed=2)
    parts = [slice(0, 600), slice(600, 800), slice(800, 1000)]
    tensors = [torch.from_numpy(x[p]) for p in parts]
    ours = fixed_split(tensors[0], y[parts[0]], tensors[1], y[parts[1]], tensors[2], y[parts[2]], 2, MODES["full"], 1111)
    dev = [round(100 * sklearn_accuracy(x[parts[0]], y[parts[0]], x[parts[1]], y[parts[1]], l2), 2) for l2 in L2_GRID]
    l2 = L2_GRID[int(np.argmax(dev))]
    assert ours["accuracy"] == pytest.approx(sklearn_accuracy(x[parts[0]], y[parts[0]], x[parts[2]], y[parts[2]], l2), abs=TOLERANCE)
    assert ours["dev_accuracy"] == pytest.approx(max(dev) / 100, abs=TOLERANCE)


def test_same_seed_same_weights_and_the_kept_weights_score_the_returned_accuracy():
    x, y = gaussian_classes(200, 8, 3, spread=1.2, seed=3)
    x, y = torch.from_numpy(x), torch.from_numpy(y)
    fits = []
    for _ in range(2):
        clf = LogisticRegression(8, 3, 1e-4, MODES["full"], seed=7)
        best = clf.fit(x[:150], y[:150], valid=(x[150:], y[150:]))
        assert clf.accuracy(x[150:], y[150:]) == best
        fits.append(clf.weight.detach().clone())
    assert torch.equal(fits[0], fits[1])
    other = LogisticRegression(8, 3, 1e-4, MODES["full"], seed=8)
    assert not torch.equal(other.weight.detach(), LogisticRegression(8, 3, 1e-4, MODES["full"], seed=7).weight.detach())


def test_initial_weights_are_nn_linear_under_the_seed():
    torch.manual_seed(1111)
    linear = torch.nn.Linear(24, 5)
    clf = LogisticRegression(24, 5, 0.0, MODES["full"], seed=1111)
    assert torch.equal(clf.weight.detach(), linear.weight.detach()) and torch.equal(clf.bias.detach(), linear.bias.detach())


def test_global_random_state_is_left_alone():
    torch.manual_seed(0)
    np.random.seed(0)
    expected = (torch.rand(1), np.random.rand())
    torch.manual_seed(0)
    np.random.seed(0)
    x, y = gaussian_classes(60, 4, 2, spread=1.0, seed=4)
    LogisticRegression(4, 2, 1e-3, MODES["fast"]).fit(torch.from_numpy(x), torch.from_numpy(y))
    assert (torch.rand(1), np.random.rand()) == expected
