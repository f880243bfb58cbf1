"""Slow, obviously-right NumPy twins of cross_entropy and the backward passes.

Written from the definitions, in np.longdouble, for clarity and not speed:

* cross-entropy follows PyTorch's documented formulas literally: build
  log_softmax, pick / weight / smooth the target distribution, sum, divide;
* its gradient is the textbook one, p * (sum of the target weights) minus
  the weighted target distribution, with p_t - 1 taken as expm1(log p_t)
  (checked separately against finite differences and PyTorch in the tests);
* log-sum-exp is log1p of the sum less one (the maxima counted apart), so a
  row with one dominant entry keeps a tiny loss accurate;
* the backward passes are the one-line formulas of issue 4.

The class axis is moved last, so every function works on rows.
"""

import numpy as np

LD = np.longdouble


def log_softmax_rows(x):
    """log_softmax along the last axis: (x - m) - log(sum(exp(x - m))), the
    log taken as log1p(c - 1 + s), with c the number of maxima and s the sum
    over the others, so that it keeps its accuracy when it is tiny (a row
    with one dominant entry)."""
    x = np.asarray(x, dtype=LD)
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, 0)
    with np.errstate(invalid="ignore", over="ignore"):
        at_max = x == m
        rest = np.sum(np.where(at_max, 0, np.exp(x - m)), axis=-1, keepdims=True)
        count = np.sum(at_max, axis=-1, keepdims=True)
        log_sum = np.log1p((count - 1) + rest)
        return (x - m) - log_sum


def _target_distribution(target, n_classes, labels, ignore_index, eps):
    """(q, keep): the smoothed target distribution per row and the rows that
    count.  Integer targets: (1 - eps) * onehot + eps / n; ignored rows are
    all zero.  Probability targets: (1 - eps) * q + eps / n."""
    if labels:
        t = np.asarray(target, dtype=np.int64)
        keep = t != ignore_index
        onehot = (np.arange(n_classes) == t[..., None]).astype(LD)
        q = (1 - LD(eps)) * onehot + LD(eps) / n_classes
        q[~keep] = 0
        return q, keep
    q = np.asarray(target, dtype=LD)
    return (1 - LD(eps)) * q + LD(eps) / n_classes, np.ones(q.shape[:-1], dtype=bool)


def cross_entropy(logits, target, axis=-1, *, weight=None, ignore_index=-100,
                  reduction="mean", label_smoothing=0.0):
    """(loss, grad) in longdouble; grad is d(loss)/d(logits) ("none": of the sum)."""
    x = np.moveaxis(np.asarray(logits, dtype=LD), axis, -1)
    n = x.shape[-1]
    target = np.asarray(target)
    labels = target.dtype.kind in "iu"
    if not labels:
        target = np.moveaxis(target, axis, -1)
    w = np.ones(n, dtype=LD) if weight is None else np.asarray(weight, dtype=LD)
    q, keep = _target_distribution(target, n, labels, ignore_index, label_smoothing)
    logp = log_softmax_rows(x)
    with np.errstate(invalid="ignore"):
        if labels:
            # PyTorch: (1 - eps) * nll + eps / n * smoothing term, the latter
            # only when eps > 0 (so -inf logits of other classes are harmless)
            t = np.where(keep, target, 0)
            nll = -w[t] * np.take_along_axis(logp, t[..., None], -1)[..., 0]
            per_row = (1 - LD(label_smoothing)) * nll
            if label_smoothing > 0:
                per_row = per_row + LD(label_smoothing) / n * -np.sum(w * logp, axis=-1)
            per_row = np.where(keep, per_row, 0)
        else:
            per_row = -np.sum(q * w * logp, axis=-1)
        p = np.exp(logp)
        if labels:
            # (1 - eps) * w_t * (p - onehot) + eps / n * (p * sum(w) - w), with
            # p_t - 1 = expm1(log p_t): exact where p_t is close to 1
            onehot = (np.arange(n) == t[..., None])
            p_minus_onehot = np.where(onehot, np.expm1(logp), p)
            w_t = w[t][..., None]
            grad = (1 - LD(label_smoothing)) * w_t * p_minus_onehot
            if label_smoothing > 0:
                grad = grad + LD(label_smoothing) / n * (p * np.sum(w) - w)
            grad = np.where(keep[..., None], grad, 0)
        else:
            grad = p * np.sum(q * w, axis=-1, keepdims=True) - q * w
    if reduction == "none":
        loss = per_row
    else:
        loss = np.sum(per_row)
        if reduction == "mean":
            if labels:
                # PyTorch: divide by the summed weights of the kept targets
                t = np.where(keep, np.asarray(target, dtype=np.int64), 0)
                divisor = np.sum(np.where(keep, w[t], 0))
            else:
                divisor = LD(per_row.size)
            with np.errstate(invalid="ignore", divide="ignore"):
                loss = loss / divisor
                grad = grad / divisor
    return loss, np.moveaxis(grad, -1, axis)


def softmax_backward(y, dy, axis=-1):
    y, dy = np.asarray(y, dtype=LD), np.asarray(dy, dtype=LD)
    return y * (dy - np.sum(dy * y, axis=axis, keepdims=True))


def log_softmax_backward(y, dy, axis=-1):
    y, dy = np.asarray(y, dtype=LD), np.asarray(dy, dtype=LD)
    return dy - np.exp(y) * np.sum(dy, axis=axis, keepdims=True)
