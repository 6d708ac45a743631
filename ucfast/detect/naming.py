"""Which group of a grown class's split is the suspect (`detector.detect` calls
`name_in_grown_classes` for every class whose size z passes one class's critical value at alpha:
dirty-label poison grew it, and is at most the growth).

    sources       the group drawn from many classes (sources.many_sources), when the other is not
    too large     a group so drawn whose removal would leave the class smaller than a clean class
                  holds genuine members too: split again on its own, the sub-group named the same way
    decisive      else, where the groups differ in departure more than the other classes' groups
                  do, at alpha, the departure's choice stands
    cue vote      else the majority of departure, centroid and spread (cues.majority)

A renamed group whose removal would leave the class too small is not taken.
"""
from __future__ import annotations

import math
from dataclasses import replace
from statistics import NormalDist

import numpy as np

from .calibrate import critical, outlier_z
from .cues import TIE, majority
from .sources import class_entropies, entropy, many_sources
from .subgroups import ClassSplit, flipped


def decisive_departures(splits, limit: float) -> np.ndarray:
    """[K] whether each class's two groups differ in departure (|log of its ratio|) more than the
    other classes' two groups do: its robust z against theirs (`calibrate.outlier_z`; the spread
    at least the log ratio of a tie, TIE) at least `limit`. A class without a split takes the
    measured classes' median."""
    apart = np.array([abs(math.log(max(s.departures[0], 1e-12) / max(s.departures[1], 1e-12)))
                      if s is not None and s.size else math.nan for s in splits])
    measured = np.isfinite(apart)
    if not measured.any():
        return np.zeros(len(splits), dtype=bool)
    apart = np.where(measured, apart, np.median(apart[measured]))
    return outlier_z(apart, -math.log(1.0 - TIE)) >= limit


def name_in_grown_classes(splits, classes, rows, nearest, profile, posterior, left, counts, alpha,
                           resplit) -> None:
    """Name the suspect group of each grown class (size z at least one class's critical value at
    alpha: dirty-label poison grew it), where the class without that group is not smaller than a
    clean class at level alpha (dirty-label poison is at most the growth); `splits` and `posterior`
    are renamed in place. First the group drawn from many classes (`sources.many_sources`, each of
    the two groups tested at alpha / 2, so that a split with neither drawn from many classes has
    one called so with probability at most alpha), when the other group is not ("sources");
    otherwise, unless the two groups differ in departure (the log of its ratio) more than the two
    groups of the other classes do, at alpha (its robust z against theirs, `calibrate.outlier_z`,
    the spread at least the log ratio of a tie, past one class's critical value; then the
    departure's choice stands: a trigger that collapses its group's variation past any natural
    sub-type's), the group most of three cues name (`cues.majority`): the departure and the centroid
    distance of the split, and the spread of the members' nearest other classes (the larger
    Miller-Madow entropy, past its standard error's two-sided critical value at alpha and past the
    median of the other classes' own entropies: more spread than a typical class); its "not
    smaller than a clean class" is judged against the other classes with every class smaller than
    their median filled up to it (a source-specific attack's depleted sources, left as they are,
    widen the spread until the genuine members plus one source's poison look removable; cues
    that know nothing of sources take that group more often than the sources rule). A group the
    sources rule names whose removal would leave the class too small holds genuine members as well
    as the poison: it is split again on its own (`resplit(k, mask)`: a ClassSplit of class k's rows
    under mask, or None when too few) and named within (`_within`).
    left(k, remaining, sizes): class k's size z holding `remaining` samples, the others `sizes`;
    nearest: each class's rows' nearest other classes (`sources.nearest_other`)."""
    limit = critical(int(classes.size), alpha)[3]
    per_group = critical(int(classes.size), alpha / 2)[3]
    band = NormalDist().inv_cdf(1.0 - alpha / 2.0)
    entropies = class_entropies(nearest, classes)
    decisive = decisive_departures(splits, limit)
    for k, c in enumerate(classes):
        split = splits[k]
        if split is None or not split.size or split.by_reference or left(k, counts[k]) < limit:
            continue
        group = split.posterior > 0.5
        null = np.delete(entropies, k)
        drawn, named_by = _named(split, nearest[c], group, null, per_group, band, int(classes.size),
                                 bool(decisive[k]))
        if drawn is None:
            continue  # the departure differs more than the other classes' groups do, at alpha: it decides alone
        sizes = counts if named_by == "sources" else np.maximum(counts, np.median(np.delete(counts, k)))
        named = group if drawn else ~group
        if left(k, counts[k] - int(named.sum()), sizes) > -limit:
            splits[k] = replace(split, named_by=named_by) if drawn else flipped(split, profile[rows[c]], named_by)
        elif named_by == "sources":  # drawn from many classes, but more than the growth: genuine members too
            splits[k] = _within(split, named, resplit(k, named), nearest[c][named], null, per_group, band,
                                int(classes.size), profile[rows[c]], lambda size: left(k, counts[k] - size) > -limit)
        posterior[rows[c]] = splits[k].posterior


def _within(split, named, inner, nearest, null, per_group, band, k, profile, removable) -> ClassSplit:
    """The suspect group within `named` (the mask of `split`'s group drawn from many classes, too
    large to be the growth alone): of its own split `inner` (None: too small to split), the group
    `_named` names, if the class without it is not too small (`removable(size)`); else `split`
    unchanged. The posterior is the named sub-group's inside `named`, 0 elsewhere; the class
    statistics stay `split`'s. profile: the class's stability profile."""
    if inner is None or not inner.size:
        return split
    drawn, rule = _named(inner, nearest, inner.posterior > 0.5, null, per_group, band, k)
    inside = inner.posterior if drawn else 1.0 - inner.posterior
    posterior = np.zeros(named.size)
    posterior[named] = inside
    group = posterior > 0.5
    if not removable(int(group.sum())):
        return split
    ordered = (lambda pair: pair) if drawn else (lambda pair: pair[::-1])
    return replace(split, posterior=posterior, size=int(group.sum()), suspect_profile=np.median(profile[group], 0),
                   named_by=f"sources, then {rule}", departures=ordered(inner.departures),
                   distances=ordered(inner.distances))


def _named(split, nearest, group, null, per_group, band, k, decisive=False) -> tuple[bool | None, str]:
    """(whether the posterior's group of `split` is the suspect, the rule that named it): the group
    drawn from many classes (`sources.many_sources`, each group at per_group) when the other is
    not; else None where `decisive` (the departure's choice stands); else the cues' majority.
    nearest [n]: the split's rows' nearest other classes; group: the posterior's group; null: the
    other classes' entropies; band: the spread cue's two-sided critical value; k: the number of
    classes."""
    (inside, inside_se), (outside, outside_se) = spreads = tuple(entropy(nearest[g], k) for g in (group, ~group))
    drawn = many_sources(spreads, null, per_group)
    if drawn is not None:
        return drawn, "sources"
    if decisive:
        return None, "departure"
    return majority({"departure": (*split.departures, None), "centroid": (*split.distances, None),
                     "spread": (inside, outside, band * math.hypot(inside_se, outside_se), float(np.median(null)))})
