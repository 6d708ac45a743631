"""ucfast.detect.cues: the suspect group of a split is the one most of its cues name; a cue within its
tie band, or not above its floor, abstains; tied votes fall back to the departure, then the centroid."""
import pytest

from ucfast.detect.cues import TIE, majority, vote


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
