"""ucfast.detect.cues: the suspect group of a split is the one most of its cues name; a cue within its
tie band, or not above its floor, abstains; tied votes fall back to the departure, then the centroid;
the vote is skipped where the departure's gap stands out from the other classes' at the level."""
import numpy as np
import pytest

from ucfast.detect.calibrate import critical
from ucfast.detect.cues import TIE, majority, vote
from ucfast.detect.naming import decisive_departures
from ucfast.detect.subgroups import ClassSplit


def test_a_cue_votes_for_the_group_with_more_of_it_past_its_band():
    assert vote(2.0, 1.0, None) is True and vote(1.0, 2.0, None) is False
    assert vote(1.0, 1.0 + 0.5 * TIE, None) is None  # within TIE of the larger value
    assert vote(1.0, 1.3, 0.5) is None and vote(1.0, 1.6, 0.5) is False  # an explicit band replaces TIE


def test_a_cue_with_a_floor_abstains_unless_the_larger_value_is_above_it():
    assert vote(0.9, 0.1, 0.1, 1.0) is None  # far apart, but neither group above the floor
    assert vote(1.2, 0.1, 0.1, 1.0) is True


def test_the_majority_names_the_suspect_and_the_cues_that_agreed():
    cues = {"departure": (1.0, 2.0, None), "centroid": (5.0, 3.0, None), "spread": (1.5, 0.5, 0.1, 1.0)}
    assert majority(cues) == (True, "centroid+spread")
    cues["spread"] = (0.5, 1.5, 0.1, 1.0)
    assert majority(cues) == (False, "departure+spread")


@pytest.mark.parametrize("spread", [(1.0, 1.0, 0.1, 0.0), (2.0, 0.0, 0.1, 5.0)])  # within the band; below the floor
def test_one_vote_each_falls_back_to_the_departure(spread):
    cues = {"departure": (1.0, 2.0, None), "centroid": (5.0, 3.0, None), "spread": spread}
    assert majority(cues) == (False, "departure")


def test_with_the_departure_tied_a_lone_cue_decides_and_without_any_the_centroid_does():
    assert majority({"departure": (1.0, 1.0, None), "centroid": (5.0, 5.0, None),
                     "spread": (0.5, 1.5, 0.1, 1.0)}) == (False, "spread")
    assert majority({"departure": (1.0, 1.0, None), "centroid": (5.0, 4.9, None)}) == (True, "centroid")


def _split(inside, outside):
    return ClassSplit(np.zeros(4), 1.0, 0.1, 2, np.zeros(3), departures=(inside, outside))


def test_the_departure_decides_alone_only_where_its_gap_stands_out_from_the_other_classes_at_the_level():
    limit = critical(10, 0.05)[3]
    varied = [_split(1.0, 1.0 + gap) for gap in (0.1, 0.3, 0.2, 0.5, 0.15, 0.4, 0.25, 0.35, 0.45)]
    largest_of_varied = decisive_departures([_split(1.6, 1.0)] + varied, limit)  # the largest gap, but no outlier
    assert not largest_of_varied.any()
    alike = [_split(1.0, 1.02 + 0.01 * k) for k in range(9)]
    assert decisive_departures([_split(2.0, 1.0)] + alike, limit).tolist() == [True] + [False] * 9
    assert not decisive_departures([_split(1.2, 1.0)] + alike, limit).any()  # within a few ties of the rest


def test_a_class_without_a_split_neither_decides_nor_widens_the_others():
    limit = critical(10, 0.05)[3]
    alike = [_split(1.0, 1.02 + 0.01 * k) for k in range(8)]
    assert decisive_departures([_split(2.0, 1.0), None] + alike, limit).tolist() == [True] + [False] * 9
