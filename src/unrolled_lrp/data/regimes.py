"""Label regimes: which N pixel-labelled images a run may use (paper, section 3.0.1).

Small N: classes as uniformly covered as possible (greedy: repeatedly take the least-covered
class, then a random image containing it), so every foreground class appears once N reaches
the number of classes. Large N (``N >= threshold``, 500 in the paper): draw a class from the
average of the uniform and the pool's class distribution, then a random image containing it.

Regimes are nested for one seed because they are prefixes of one ordered sequence, built
top-down: the first ``threshold`` mixed draws (plus, if some class is missing from them, its
earliest later draw) are re-ordered by the greedy rule, the remaining mixed draws follow.
So any ``N >= threshold`` is exactly a mixed-distribution sample and any smaller N is a greedy
uniform subset of it.

Labels are per-image class sets; the ``background`` class (index 0 by default; ``None`` for class lists
without one) is in every image and is not balanced.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping
from pathlib import Path

from .voc import write_ids

Labels = Mapping[str, Iterable[int]]


class _ClassIndex:
    """Unchosen images per class, drawn at random; chosen images are removed lazily."""

    def __init__(self, ids: list[str], labels: dict[str, frozenset[int]], rng: random.Random) -> None:
        self.rng, self.chosen = rng, set[str]()
        self.members: dict[int, list[str]] = {}
        for image_id in ids:
            for cls in labels[image_id]:
                self.members.setdefault(cls, []).append(image_id)

    def available(self, cls: int) -> bool:
        pool = self.members.get(cls, [])
        while pool and pool[-1] in self.chosen:
            pool.pop()
        return bool(pool)

    def draw(self, cls: int) -> str:
        """A random unchosen image containing ``cls`` (the class must be :meth:`available`)."""
        pool = self.members[cls]
        while True:
            k = self.rng.randrange(len(pool))
            pool[k], pool[-1] = pool[-1], pool[k]
            image_id = pool.pop()
            if image_id not in self.chosen:
                self.chosen.add(image_id)
                return image_id


def _foreground(labels: Labels, background: int | None) -> dict[str, frozenset[int]]:
    return {image_id: frozenset(classes) - {background} for image_id, classes in labels.items()}


def _with_leftovers(order: list[str], ids: list[str], rng: random.Random) -> list[str]:
    """Append images never drawn (background only) in random order."""
    drawn = set(order)
    leftovers = [image_id for image_id in ids if image_id not in drawn]
    rng.shuffle(leftovers)
    return order + leftovers


def mixed_order(labels: Labels, *, seed: int = 0, uniform_weight: float = 0.5, background: int | None = 0) -> list[str]:
    """All ids ordered by sequential draws of a class ~ ``w·uniform + (1-w)·pool class frequency``, then of an
    image containing it."""
    fg, rng = _foreground(labels, background), random.Random(seed)
    ids = sorted(fg)
    index = _ClassIndex(ids, fg, rng)
    total = sum(len(members) for members in index.members.values())
    weight = {
        cls: uniform_weight / len(index.members) + (1 - uniform_weight) * len(members) / total
        for cls, members in sorted(index.members.items())
    }
    order: list[str] = []
    while weight:
        cls = rng.choices(list(weight), weights=list(weight.values()))[0]
        if index.available(cls):
            order.append(index.draw(cls))
        else:
            del weight[cls]
    return _with_leftovers(order, ids, rng)


def greedy_uniform_order(labels: Labels, *, seed: int = 0, background: int | None = 0) -> list[str]:
    """All ids ordered greedily: least-covered class first (random ties), then a random image of it."""
    fg, rng = _foreground(labels, background), random.Random(seed)
    ids = sorted(fg)
    index = _ClassIndex(ids, fg, rng)
    coverage = dict.fromkeys(sorted(index.members), 0)
    order: list[str] = []
    while coverage:
        least = min(coverage.values())
        cls = rng.choice([c for c, count in coverage.items() if count == least])
        if not index.available(cls):
            del coverage[cls]
            continue
        order.append(index.draw(cls))
        for covered in fg[order[-1]] & coverage.keys():
            coverage[covered] += 1
    return _with_leftovers(order, ids, rng)


def regime_order(
    labels: Labels, *, seed: int = 0, threshold: int = 500, uniform_weight: float = 0.5, background: int | None = 0
) -> list[str]:
    """The nested ordering of the pixel pool (see module docstring); regime N is its first N ids."""
    fg = _foreground(labels, background)
    mixed = mixed_order(fg, seed=seed, uniform_weight=uniform_weight, background=None)
    head = mixed[:threshold]
    missing = set().union(*fg.values()) - set().union(*(fg[i] for i in head))
    for image_id in mixed[threshold:]:
        if fg[image_id] & missing:
            head.append(image_id)
            missing -= fg[image_id]
    greedy = greedy_uniform_order({image_id: fg[image_id] for image_id in head}, seed=seed, background=None)
    chosen = set(head)
    return greedy + [image_id for image_id in mixed if image_id not in chosen]


def select_regime(
    labels: Labels,
    num_pixel: int,
    *,
    seed: int = 0,
    threshold: int = 500,
    uniform_weight: float = 0.5,
    background: int | None = 0,
) -> list[str]:
    """The ``num_pixel`` pixel-labelled ids of a regime, deterministic from ``seed`` and nested across N.

    ``num_pixel=0`` is the image-level-only regime of classifier pre-training.
    """
    if not 0 <= num_pixel <= len(labels):
        raise ValueError(f"num_pixel={num_pixel} must be between 0 and the pool size {len(labels)}")
    order = regime_order(labels, seed=seed, threshold=threshold, uniform_weight=uniform_weight, background=background)
    return order[:num_pixel]


def regime_path(directory: str | Path, num_pixel: int, seed: int) -> Path:
    """Where a regime's id list lives: ``DIR/pixel_{N}_seed{seed}.txt``."""
    return Path(directory) / f"pixel_{num_pixel}_seed{seed}.txt"


def write_regime(ids: list[str], directory: str | Path, *, seed: int) -> Path:
    """Record a regime's ids (one per line) so a run's labelled set can be audited and reused."""
    return write_ids(regime_path(directory, len(ids), seed), ids)
