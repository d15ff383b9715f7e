"""LSN, size and duration parsing (plugins/module_utils/lsn.py)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.keel.postgres.plugins.module_utils.lsn import (
    MAX_LSN,
    format_bytes,
    format_lsn,
    format_seconds,
    lsn_diff,
    parse_duration,
    parse_lsn,
    parse_lsn_or_none,
    parse_size,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("0/0", 0),
        ("0/3000060", 0x3000060),
        ("16/B374D848", (0x16 << 32) | 0xB374D848),
        ("16/b374d848", (0x16 << 32) | 0xB374D848),
        ("FFFFFFFF/FFFFFFFF", MAX_LSN),
        ("1/0", 1 << 32),
        (" 0/16B3748 ", 0x16B3748),
        ("00000000/00000001", 1),
    ],
)
def test_parse_lsn(text, expected):
    assert parse_lsn(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "/", "0/", "/0", "0", "0-3000060", "G/0", "0/G", "100000000/0", "0/100000000", "0/30 00060", "1/2/3", None, 5],
)
def test_parse_lsn_rejects_invalid(text):
    with pytest.raises(ValueError):
        parse_lsn(text)


def test_parse_lsn_or_none():
    assert parse_lsn_or_none(None) is None
    assert parse_lsn_or_none("0/10") == 16


@pytest.mark.parametrize(
    "position, text",
    [(0, "0/0"), (0x3000060, "0/3000060"), ((0x16 << 32) | 0xB374D848, "16/B374D848"), (MAX_LSN, "FFFFFFFF/FFFFFFFF")],
)
def test_format_lsn(position, text):
    assert format_lsn(position) == text


@pytest.mark.parametrize("position", [-1, MAX_LSN + 1, "0/0", 1.5, True, None])
def test_format_lsn_rejects(position):
    with pytest.raises(ValueError):
        format_lsn(position)


@given(st.integers(min_value=0, max_value=MAX_LSN))
def test_lsn_round_trip(position):
    assert parse_lsn(format_lsn(position)) == position


@pytest.mark.parametrize(
    "newer, older, expected",
    [
        ("0/3000060", "0/3000000", 0x60),
        ("1/0", "0/FFFFFFFF", 1),
        ("0/0", "0/10", -16),
        ("16/B374D848", "16/B374D848", 0),
        (100, 40, 60),
        (None, "0/0", None),
        ("0/0", None, None),
    ],
)
def test_lsn_diff(newer, older, expected):
    assert lsn_diff(newer, older) == expected


@pytest.mark.parametrize(
    "value, expected",
    [
        ("100MB", 100 * 1024**2),
        ("1GB", 1024**3),
        ("16kB", 16 * 1024),
        ("16KB", 16 * 1024),
        ("16 kB", 16 * 1024),
        ("1.5GB", int(1.5 * 1024**3)),
        ("2TB", 2 * 1024**4),
        ("512", 512),
        ("512B", 512),
        ("64MiB", 64 * 1024**2),
        ("1g", 1024**3),
        (0, 0),
        (4096, 4096),
        (1.9, 1),
    ],
)
def test_parse_size(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value", ["", "MB", "-1MB", "1 PB", "1XB", "ten", "1,5GB", -1, -0.5, True, None, [1]])
def test_parse_size_rejects(value):
    with pytest.raises(ValueError):
        parse_size(value)


@pytest.mark.parametrize(
    "value, expected",
    [
        (10, 10.0),
        (2.5, 2.5),
        ("10", 10.0),
        ("10s", 10.0),
        ("500ms", 0.5),
        ("250us", 0.00025),
        ("2min", 120.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("00:01:30.5", 90.5),
        ("12:00:00", 43200.0),
        ("2 days 01:00:00", 2 * 86400.0 + 3600.0),
    ],
)
def test_parse_duration(value, expected):
    assert parse_duration(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["", "s", "-5s", "5 weeks", "1:2:3", "00:61:00", -1, True, None])
def test_parse_duration_rejects(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize(
    "count, text",
    [(None, "unknown"), (0, "0 B"), (1023, "1023 B"), (1024, "1.0 kB"), (157286400, "150.0 MB"), (-2048, "-2.0 kB")],
)
def test_format_bytes(count, text):
    assert format_bytes(count) == text


def test_format_seconds():
    assert format_seconds(None) == "unknown"
    assert format_seconds(12.5) == "12.5 s"
