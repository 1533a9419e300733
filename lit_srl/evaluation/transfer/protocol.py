"""SentEval's three validation schemes around :class:`LogisticRegression`, as SimCSE runs them.

``senteval/tools/validation.py``; k = ``settings.folds`` (10 in the full mode, 5 in the fast one);
λ ranges over :data:`L2_GRID`; "accuracy" is a fraction of the test rows:

- :func:`inner_kfold` (MR, CR, SUBJ, MPQA): k stratified folds; on each outer training part an
  inner k-fold cross-validation picks λ (each inner model early-stops on its inner test fold),
  then a model with that λ trains on the whole outer training part (early stopping on a random
  5% of it) and is scored on the outer test fold. ``accuracy`` = mean over outer folds,
  ``dev_accuracy`` = mean of the best inner cross-validation accuracies.
- :func:`kfold` (TREC, MRPC): λ by k-fold cross-validation on train (each model early-stops on
  its held-out fold); a model with that λ trains on all of train (early stopping on a random 5%)
  and is scored on test.
- :func:`fixed_split` (SST2): one model per λ trains on train and early-stops on dev; the λ with
  the best dev accuracy is scored on test.

As SentEval, accuracies are compared and averaged as percentages rounded to two decimals (the
rounding can tie two λ; the first, smallest, wins), and every model starts from the same seed.
Folds are those of scikit-learn's ``StratifiedKFold(k, shuffle=True, random_state=seed)``
(≥ 0.22), reimplemented here (:func:`stratified_folds`); SentEval's inner k-fold uses the fixed
seed 1111, ours the one seed given (default 1111: the same folds).

Features are (n, D) float32 tensors on the device the classifiers should train on; labels (n,)
int64 numpy arrays (the folds are drawn on the CPU).
"""

from __future__ import annotations

import numpy as np
import torch

from lit_srl.errors import LitSrlError
from lit_srl.evaluation.transfer.classifier import L2_GRID, ClassifierSettings, LogisticRegression


def stratified_folds(labels: np.ndarray, k: int, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """``k`` (train, test) index pairs, each class spread evenly over the test folds.

    scikit-learn's ``StratifiedKFold(n_splits=k, shuffle=True, random_state=seed).split``: the
    rows of the class sorted labels are dealt round-robin into k folds to get each fold's count
    per class; then, class by class (in order of first appearance), the fold numbers are shuffled
    with one ``RandomState(seed)`` and assigned to that class's rows. Indices come out ascending.
    """
    labels = np.asarray(labels)
    _, first_index, inverse = np.unique(labels, return_index=True, return_inverse=True)
    _, class_order = np.unique(first_index, return_inverse=True)
    encoded = class_order[inverse.reshape(-1)]
    n_classes = len(first_index)
    if k < 2 or np.all(np.bincount(encoded) < k):
        raise LitSrlError(f"cannot split {len(labels)} rows into {k} stratified folds: no class has {k} rows; "
                          f"the task's files look truncated, restore them")
    sorted_encoded = np.sort(encoded)
    allocation = np.asarray([np.bincount(sorted_encoded[i::k], minlength=n_classes) for i in range(k)])
    rng = np.random.RandomState(seed)
    test_fold = np.empty(len(labels), dtype=np.int64)
    for c in range(n_classes):
        folds_of_class = np.arange(k).repeat(allocation[:, c])
        rng.shuffle(folds_of_class)
        test_fold[encoded == c] = folds_of_class
    rows = np.arange(len(labels))
    return [(rows[test_fold != i], rows[test_fold == i]) for i in range(k)]


def _percent(accuracy: float) -> float:
    """SentEval's bookkeeping unit: a percentage rounded to two decimals."""
    return round(100 * accuracy, 2)


def _fraction(percent: float) -> float:
    """A percentage of SentEval's back to a fraction (``85.23`` → ``0.8523``)."""
    return round(percent / 100, 6)


def _on(features: torch.Tensor, labels: np.ndarray) -> torch.Tensor:
    return torch.as_tensor(labels, dtype=torch.long, device=features.device)


def _classifier(features: torch.Tensor, n_classes: int, l2: float, settings: ClassifierSettings, seed: int):
    return LogisticRegression(features.shape[1], n_classes, l2, settings, seed, features.device)


def cross_validated_l2(features: torch.Tensor, labels: np.ndarray, n_classes: int, settings: ClassifierSettings,
                       seed: int) -> tuple[float, float]:
    """(best λ, its mean k-fold accuracy in %, rounded) over :data:`L2_GRID`; each fold's model
    early-stops on that fold's held-out rows."""
    y = _on(features, labels)
    folds = stratified_folds(labels, settings.folds, seed)
    scores = []
    for l2 in L2_GRID:
        fold_accuracies = []
        for train, test in folds:
            clf = _classifier(features, n_classes, l2, settings, seed)
            clf.fit(features[train], y[train], valid=(features[test], y[test]))
            fold_accuracies.append(clf.accuracy(features[test], y[test]))
        scores.append(_percent(float(np.mean(fold_accuracies))))
    best = int(np.argmax(scores))
    return L2_GRID[best], scores[best]


def inner_kfold(features: torch.Tensor, labels: np.ndarray, n_classes: int, settings: ClassifierSettings,
                seed: int = 1111) -> dict:
    """MR, CR, SUBJ, MPQA: ``{"accuracy", "dev_accuracy", "l2"}`` (``l2``: λ chosen per outer fold)."""
    y = _on(features, labels)
    test_scores, dev_scores, chosen = [], [], []
    for train, test in stratified_folds(labels, settings.folds, seed):
        l2, dev = cross_validated_l2(features[train], labels[train], n_classes, settings, seed)
        clf = _classifier(features, n_classes, l2, settings, seed)
        clf.fit(features[train], y[train])
        test_scores.append(_percent(clf.accuracy(features[test], y[test])))
        dev_scores.append(dev)
        chosen.append(l2)
    return {"accuracy": _fraction(round(float(np.mean(test_scores)), 2)),
            "dev_accuracy": _fraction(round(float(np.mean(dev_scores)), 2)), "l2": chosen}


def kfold(train_x: torch.Tensor, train_y: np.ndarray, test_x: torch.Tensor, test_y: np.ndarray, n_classes: int,
          settings: ClassifierSettings, seed: int = 1111) -> dict:
    """TREC, MRPC: ``{"accuracy", "dev_accuracy", "l2", "predictions"}`` (test predictions, (n,) int64)."""
    l2, dev = cross_validated_l2(train_x, train_y, n_classes, settings, seed)
    clf = _classifier(train_x, n_classes, l2, settings, seed)
    clf.fit(train_x, _on(train_x, train_y))
    predictions = clf.predict(test_x).cpu().numpy()
    accuracy = _percent(float(np.mean(predictions == test_y)) if len(test_y) else 0.0)
    return {"accuracy": _fraction(accuracy), "dev_accuracy": _fraction(dev), "l2": l2, "predictions": predictions}


def fixed_split(train_x: torch.Tensor, train_y: np.ndarray, dev_x: torch.Tensor, dev_y: np.ndarray,
                test_x: torch.Tensor, test_y: np.ndarray, n_classes: int, settings: ClassifierSettings,
                seed: int = 1111) -> dict:
    """SST2: ``{"accuracy", "dev_accuracy", "l2"}``.

    SentEval trains the chosen λ a second time from the same seed; that run is the same as the
    first, so the first one's model is scored here.
    """
    y_train, y_dev, y_test = _on(train_x, train_y), _on(dev_x, dev_y), _on(test_x, test_y)
    models, scores = [], []
    for l2 in L2_GRID:
        clf = _classifier(train_x, n_classes, l2, settings, seed)
        clf.fit(train_x, y_train, valid=(dev_x, y_dev))
        models.append(clf)
        scores.append(_percent(clf.accuracy(dev_x, y_dev)))
    best = int(np.argmax(scores))
    return {"accuracy": _fraction(_percent(models[best].accuracy(test_x, y_test))), "dev_accuracy": _fraction(scores[best]),
            "l2": L2_GRID[best]}
