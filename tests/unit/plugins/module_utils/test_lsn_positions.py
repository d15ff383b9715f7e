"""lsn_max and wal_segment_end: the positions dr_promote.yml compares before promoting."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.keel.postgres.plugins.module_utils.lsn import (
    format_lsn,
    lsn_max,
    parse_lsn,
    wal_segment_end,
)


def test_lsn_max_compares_positions_not_text():
    # As text, '0/9000028' > '0/10000000'; as positions it is behind.
    assert lsn_max(["0/9000028", "0/10000000"]) == "0/10000000"
    assert lsn_max(["1/0", "0/FFFFFFFF"]) == "1/0"


def test_lsn_max_skips_empty_items_and_is_empty_for_none():
    assert lsn_max(["", None, "0/3000060"]) == "0/3000060"
    assert lsn_max([]) == ""
    assert lsn_max(["", None]) == ""


def test_lsn_max_rejects_what_is_not_an_lsn():
    with pytest.raises(ValueError, match="invalid LSN"):
        lsn_max(["0/3000060", "nonsense"])


@given(st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=1, max_size=8))
def test_lsn_max_is_the_numeric_maximum(positions):
    assert parse_lsn(lsn_max([format_lsn(p) for p in positions])) == max(positions)


def test_a_segment_ends_where_the_next_one_starts():
    # Segment 9 of log 0 covers 0/9000000 .. 0/A000000 with 16 MiB segments.
    assert wal_segment_end(["000000010000000000000009"]) == "0/A000000"
    # The last segment of a log ends at the start of the next log.
    assert wal_segment_end(["0000000100000003000000FF"]) == "4/0"


def test_the_furthest_segment_wins_whatever_its_timeline():
    names = ["000000030000000000000005", "000000020000000000000007", "000000010000000100000000"]
    assert wal_segment_end(names) == "1/1000000"


def test_other_segment_sizes():
    assert wal_segment_end(["000000010000000000000003"], segment_size=64 * 1024**2) == "0/10000000"


def test_no_segments_and_bad_names():
    assert wal_segment_end([]) == ""
    assert wal_segment_end(["", None]) == ""
    with pytest.raises(ValueError, match="24 hexadecimal digits"):
        wal_segment_end(["00000001000000000000009"])
    with pytest.raises(ValueError, match="24 hexadecimal digits"):
        wal_segment_end(["00000001000000000000000g"])
    with pytest.raises(ValueError, match="segment_size"):
        wal_segment_end(["000000010000000000000009"], segment_size=0)
