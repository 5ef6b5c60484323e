from vcval.ingest.sentences import merge_into_sentences, merge_into_sentences_with_mapping
from vcval.types import Cue


def _c(i, s, e, t):
    return Cue(i, s, e, t)


def test_punctuated_sentences_stay_one_per_unit():
    cues = [_c(0, 0, 2, "Hi."), _c(1, 2, 9, "Open the panel now."), _c(2, 9, 12, "Done!")]
    units, mapping = merge_into_sentences_with_mapping(cues)
    assert [u.text for u in units] == ["Hi.", "Open the panel now.", "Done!"]
    assert mapping == [[0], [1], [2]]
    assert [u.index for u in units] == [0, 1, 2]


def test_auto_caption_fragments_merge_until_max_seconds():
    # overlapping, unpunctuated 2.5 s steps with 5 s durations, no pauses
    cues = [_c(i, 2.5 * i, 2.5 * i + 5, f"word{i} a b") for i in range(10)]
    units, mapping = merge_into_sentences_with_mapping(cues, max_seconds=10.0)
    assert sum(len(m) for m in mapping) == 10
    assert [k for m in mapping for k in m] == list(range(10))
    for u in units:
        assert u.end - u.start <= 10.0 + 1e-9
    for a, b in zip(units, units[1:]):
        assert a.end <= b.start + 1e-9  # overlaps trimmed


def test_pause_closes_unit_only_when_long_enough():
    cues = [_c(0, 0, 1, "one two"), _c(1, 3, 6, "three four five"), _c(2, 9, 11, "six seven")]
    units = merge_into_sentences(cues, min_seconds=4.0, min_words=4, pause_s=1.0)
    # after cue 0 (1 s, 2 words) the pause is ignored; after cue 1 the unit is 6 s, 5 words
    assert [u.text for u in units] == ["one two three four five", "six seven"]
    assert (units[0].start, units[0].end) == (0, 6)


def test_noise_dropped_and_mapping_points_to_original_cues():
    cues = [_c(0, 0, 2, "[Music]"), _c(1, 2, 4, "hello [Music] there"), _c(2, 4, 6, "friend.")]
    units, mapping = merge_into_sentences_with_mapping(cues)
    assert [u.text for u in units] == ["hello there friend."]
    assert mapping == [[1, 2]]


def test_empty_input():
    assert merge_into_sentences([]) == []
