"""Which of a split's two groups is the poison: the group most of its cues name.

A cue is one property measured on both groups, with a reason why poison has more of it (the
detector weighs three in a grown class: the departure and the centroid distance that
subgroups.py measures, and the spread of the members' nearest other classes, sources.py). Each
has failed where another held on the attack matrix's cached runs:
the departure names the genuine members of a specific class, which depart further from the other
classes' variation than a mixture of warped source classes does (WaNet on sneakers and ankle
boots with other architectures); the centroid names the genuine members of a class far from every
other (trousers), and misses poison from one source, which lies near that source (TaCT); the
spread misses poison from one source or from the target itself (clean-label), and a trigger that
draws its group together (a blend). So no one of them decides alone: a cue votes for the group
with the larger value when the two values are further apart than its tie band, and abstains
otherwise; the group with more votes is the suspect. Where the votes tie (none, or one each), the
departure decides where it voted, else the centroid, by its raw values (the rule before the cues
were three).
"""
from __future__ import annotations

TIE = 0.1  # a cue's two values closer than this share of the larger one decide nothing (unless it has a band)


def vote(inside: float, outside: float, band: float | None, floor: float | None = None) -> bool | None:
    """True: the posterior's group has more of the cue; False: the rest has; None: within the band
    (TIE x the larger value where band is None), or the larger value not above floor."""
    band = TIE * max(abs(inside), abs(outside)) if band is None else band
    if abs(inside - outside) <= band or (floor is not None and max(inside, outside) <= floor):
        return None
    return inside > outside


def majority(cues: dict) -> tuple[bool, str]:
    """(whether the posterior's group is the suspect, the rule that named it: the cues that agreed,
    joined by "+"). cues: {name: (the posterior's group's value, the rest's value, tie band or
    None)}, holding at least "departure" and "centroid"."""
    votes = {name: vote(*value) for name, value in cues.items()}
    inside = [name for name, v in votes.items() if v is True]
    outside = [name for name, v in votes.items() if v is False]
    if len(inside) != len(outside):
        return len(inside) > len(outside), "+".join(inside if len(inside) > len(outside) else outside)
    if votes["departure"] is not None:
        return votes["departure"], "departure"
    inside_distance, outside_distance = cues["centroid"][:2]
    return inside_distance > outside_distance, "centroid"
