"""CTC loss against an independent numpy forward pass; sparse labels keep id 0."""
import numpy as np
import pytest

from ds2_tf.training.loss import ctc_loss, sparse_labels


def numpy_ctc_nll(logits: np.ndarray, labels: list[int], blank: int) -> float:
    """-log p(labels | logits) by the CTC forward (alpha) recursion in log space."""
    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)
    ext = [blank]
    for label in labels:
        ext += [label, blank]
    alpha = np.full(len(ext), -np.inf)
    alpha[0] = log_probs[0, blank]
    if len(ext) > 1:
        alpha[1] = log_probs[0, ext[1]]
    for t in range(1, len(log_probs)):
        new = np.full_like(alpha, -np.inf)
        for s in range(len(ext)):
            terms = [alpha[s]]
            if s >= 1:
                terms.append(alpha[s - 1])
            if s >= 2 and ext[s] != blank and ext[s] != ext[s - 2]:
                terms.append(alpha[s - 2])
            new[s] = np.logaddexp.reduce(terms) + log_probs[t, ext[s]]
        alpha = new
    return -float(np.logaddexp(alpha[-1], alpha[-2]) if len(ext) > 1 else alpha[-1])


@pytest.mark.parametrize("seed", range(6))
def test_ctc_loss_matches_numpy_forward_pass(seed):
    rng = np.random.default_rng(seed)
    batch, classes = 3, 6
    blank = classes - 1
    label_lengths = rng.integers(1, 5, batch)
    labels = np.zeros((batch, label_lengths.max()), np.int32)
    for i, n in enumerate(label_lengths):
        labels[i, :n] = rng.integers(0, blank, n)  # includes id 0 and repeats
    logit_lengths = np.array([int(2 * n + 3 + rng.integers(0, 4)) for n in label_lengths])
    logits = rng.standard_normal((batch, logit_lengths.max(), classes)).astype(np.float32) * 2
    got = ctc_loss(labels, label_lengths, logits, logit_lengths).numpy()
    want = [numpy_ctc_nll(logits[i, : logit_lengths[i]].astype(np.float64),
                          list(labels[i, : label_lengths[i]]), blank) for i in range(batch)]
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


def test_sparse_labels_keep_label_id_zero():
    sparse = sparse_labels(np.array([[0, 3, 0], [0, 0, 0]]), np.array([3, 1]))
    assert sparse.values.numpy().tolist() == [0, 3, 0, 0]
