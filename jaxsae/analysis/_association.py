"""Concept-to-neuron scores beside purity, so the numbers compare with other SAE-for-recommendation work.

Both read the item activations `A [n_items, h]` and the concept labels `Y [n_items, C]`.

Point-biserial correlation of neuron n with concept c: the Pearson correlation of the activation with
the 0/1 label over all (supported) items,

    r_pb(n, c) = (m_1 - m_0) / s_n * sqrt(p (1 - p))

(`m_1`, `m_0` mean activation on items with / without c, `s_n` its population std, `p` the base rate);
0 for a constant neuron or label.

TF-IDF over the concept x neuron count matrix `M[n, c]` = hits of c among neuron n's top-K active items
(K = 10, the purity counts), in both directions:

    neuron -> concept  (a neuron is a document of concepts):  tf = M[n, c] / sum_c' M[n, c'],
                       idf_c = log((1 + h) / (1 + #{n : M[n, c] > 0})) + 1
    concept -> neuron  (a concept is a document of neurons):  tf = M[n, c] / sum_n' M[n', c],
                       idf_n = log((1 + C) / (1 + #{c : M[n, c] > 0})) + 1

(smoothed idf; a zero row or column has tf 0). High neuron->concept: the concept dominates the neuron's
top items and few neurons carry it; high concept->neuron: the neuron holds a large share of the concept's
hits and few concepts share the neuron.
"""
from __future__ import annotations

from typing import Tuple

import numpy as np


def point_biserial(a: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """`r_pb [h, C]` of every neuron with every concept (see the module docstring)."""
    a = np.asarray(a, np.float64)
    y = np.asarray(labels, np.float64)
    ac = a - a.mean(axis=0)
    yc = y - y.mean(axis=0)
    num = ac.T @ yc / a.shape[0]
    den = np.outer(ac.std(axis=0), yc.std(axis=0))
    return np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)


def tfidf(hits: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """`(neuron_to_concept [h, C], concept_to_neuron [h, C])` from the count matrix `hits [h, C]`."""
    m = np.asarray(hits, np.float64)
    h, c = m.shape
    present = m > 0
    row = m.sum(axis=1, keepdims=True)
    col = m.sum(axis=0, keepdims=True)
    tf_n = np.where(row > 0, m / np.where(row > 0, row, 1.0), 0.0)
    tf_c = np.where(col > 0, m / np.where(col > 0, col, 1.0), 0.0)
    idf_concept = np.log((1.0 + h) / (1.0 + present.sum(axis=0))) + 1.0  # [C]
    idf_neuron = np.log((1.0 + c) / (1.0 + present.sum(axis=1))) + 1.0  # [h]
    return tf_n * idf_concept[None, :], tf_c * idf_neuron[:, None]
