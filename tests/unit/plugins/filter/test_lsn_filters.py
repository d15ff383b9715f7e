"""The LSN filters name themselves and what they expected when the input is wrong."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.keel.postgres.plugins.filter.lsn_diff import FilterModule as DiffFilters
from ansible_collections.keel.postgres.plugins.filter.lsn_max import FilterModule as MaxFilters
from ansible_collections.keel.postgres.plugins.filter.wal_segment_end import FilterModule as SegmentFilters

LSN_MAX = MaxFilters().filters()["lsn_max"]
LSN_DIFF = DiffFilters().filters()["lsn_diff"]
SEGMENT_END = SegmentFilters().filters()["wal_segment_end"]


def test_lsn_max_filter():
    assert LSN_MAX(["0/9000028", "0/10000000", ""]) == "0/10000000"
    with pytest.raises(AnsibleFilterError, match="lsn_max: expects a list"):
        LSN_MAX("0/9000028")
    with pytest.raises(AnsibleFilterError, match="lsn_max: invalid LSN 'x'"):
        LSN_MAX(["x"])


def test_lsn_diff_filter():
    assert LSN_DIFF("0/A000000", "0/9000000") == 16777216
    assert LSN_DIFF("0/9000000", "0/A000000") == -16777216
    with pytest.raises(AnsibleFilterError, match="lsn_diff: expects two LSN strings"):
        LSN_DIFF("0/A000000", None)
    with pytest.raises(AnsibleFilterError, match="lsn_diff: invalid LSN"):
        LSN_DIFF("0/A000000", "A000000")


def test_wal_segment_end_filter():
    assert SEGMENT_END(["000000010000000000000009"]) == "0/A000000"
    assert SEGMENT_END(["000000010000000000000009"], "33554432") == "0/14000000"
    with pytest.raises(AnsibleFilterError, match="wal_segment_end: expects a list"):
        SEGMENT_END("000000010000000000000009")
    with pytest.raises(AnsibleFilterError, match="wal_segment_end: invalid WAL segment name"):
        SEGMENT_END(["bad"])
    with pytest.raises(AnsibleFilterError, match="wal_segment_end: "):
        SEGMENT_END(["000000010000000000000009"], "many")
