# Copyright: keel.postgres contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""WAL position (LSN), byte-size and duration helpers.

Pure functions, no I/O. PostgreSQL prints an LSN as two hexadecimal numbers of
at most 8 digits each, ``high/low``, without leading zeros (``0/3000060``,
``16/B374D848``); the byte position is ``high << 32 | low``.

Sizes follow PostgreSQL's memory units (``B``, ``kB``, ``MB``, ``GB``, ``TB``,
all powers of 1024); durations follow its time units (``us``, ``ms``, ``s``,
``min``, ``h``, ``d``).
"""

import re

MAX_LSN = 0xFFFFFFFFFFFFFFFF

_LSN_RE = re.compile(r"^([0-9A-Fa-f]{1,8})/([0-9A-Fa-f]{1,8})$")

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1024,
    "kb": 1024,
    "kib": 1024,
    "m": 1024**2,
    "mb": 1024**2,
    "mib": 1024**2,
    "g": 1024**3,
    "gb": 1024**3,
    "gib": 1024**3,
    "t": 1024**4,
    "tb": 1024**4,
    "tib": 1024**4,
}

_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*$")
_DURATION_CLOCK_RE = re.compile(r"^\s*(?:(\d+)\s+days?\s+)?(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)\s*$")
_DURATION_UNITS = {
    "": 1.0,
    "us": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "sec": 1.0,
    "min": 60.0,
    "h": 3600.0,
    "d": 86400.0,
}


def parse_lsn(text):
    """Return the byte position of an LSN string such as ``'16/B374D848'``.

    Raises ValueError for anything that is not ``X/Y`` with 1-8 hex digits on
    each side (PostgreSQL's own ``pg_lsn`` input rules).
    """
    if not isinstance(text, str):
        raise ValueError("LSN must be a string like '0/3000060', got %r" % (text,))
    match = _LSN_RE.match(text.strip())
    if not match:
        raise ValueError("invalid LSN %r: expected two hexadecimal numbers separated by '/', e.g. '16/B374D848'" % text)
    return (int(match.group(1), 16) << 32) | int(match.group(2), 16)


def parse_lsn_or_none(text):
    """Like parse_lsn, but None (SQL NULL) stays None."""
    if text is None:
        return None
    return parse_lsn(text)


def format_lsn(position):
    """Return PostgreSQL's text form of a byte position: ``format_lsn(0x3000060) == '0/3000060'``."""
    if isinstance(position, bool) or not isinstance(position, int):
        raise ValueError("LSN position must be an integer, got %r" % (position,))
    if position < 0 or position > MAX_LSN:
        raise ValueError("LSN position %d is outside 0..%d" % (position, MAX_LSN))
    return "%X/%X" % (position >> 32, position & 0xFFFFFFFF)


def lsn_diff(newer, older):
    """Bytes from ``older`` to ``newer`` (like pg_wal_lsn_diff); None when either side is None.

    Accepts LSN strings or integer byte positions. The result is negative when
    ``older`` is ahead of ``newer``.
    """
    if newer is None or older is None:
        return None
    if isinstance(newer, str):
        newer = parse_lsn(newer)
    if isinstance(older, str):
        older = parse_lsn(older)
    return newer - older


def parse_size(value):
    """Return a byte count for ``100MB``, ``1GB``, ``16kB``, ``512`` (bytes) or an int.

    Units are PostgreSQL's (powers of 1024) and matched case-insensitively;
    ``KiB``-style spellings are accepted too. Negative or malformed values
    raise ValueError.
    """
    if isinstance(value, bool):
        raise ValueError("size must be a number of bytes or a string like '100MB', got %r" % (value,))
    if isinstance(value, int):
        if value < 0:
            raise ValueError("size must not be negative, got %d" % value)
        return value
    if isinstance(value, float):
        if value < 0:
            raise ValueError("size must not be negative, got %r" % value)
        return int(value)
    if not isinstance(value, str):
        raise ValueError("size must be a number of bytes or a string like '100MB', got %r" % (value,))
    match = _SIZE_RE.match(value)
    if not match:
        raise ValueError("invalid size %r: expected a number with an optional unit B, kB, MB, GB or TB" % value)
    unit = match.group(2).lower()
    if unit not in _SIZE_UNITS:
        raise ValueError("invalid size unit %r in %r: use B, kB, MB, GB or TB" % (match.group(2), value))
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def parse_duration(value):
    """Return seconds (float) for ``10``, ``10s``, ``500ms``, ``2min``, ``1h``, ``1d`` or ``00:01:30.5``.

    A bare number is seconds. ``HH:MM:SS[.frac]`` (optionally preceded by
    ``N days``) is PostgreSQL's interval output. Negative or malformed values
    raise ValueError.
    """
    if isinstance(value, bool):
        raise ValueError("duration must be seconds or a string like '10s', got %r" % (value,))
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("duration must not be negative, got %r" % value)
        return float(value)
    if not isinstance(value, str):
        raise ValueError("duration must be seconds or a string like '10s', got %r" % (value,))
    match = _DURATION_CLOCK_RE.match(value)
    if match:
        days = int(match.group(1) or 0)
        return days * 86400.0 + int(match.group(2)) * 3600.0 + int(match.group(3)) * 60.0 + float(match.group(4))
    match = _DURATION_RE.match(value)
    if not match:
        raise ValueError("invalid duration %r: expected a number with an optional unit us, ms, s, min, h or d" % value)
    unit = match.group(2).lower()
    if unit not in _DURATION_UNITS:
        raise ValueError("invalid duration unit %r in %r: use us, ms, s, min, h or d" % (match.group(2), value))
    return float(match.group(1)) * _DURATION_UNITS[unit]


def format_bytes(count):
    """Human form of a byte count for messages: ``format_bytes(157286400) == '150.0 MB'``."""
    if count is None:
        return "unknown"
    sign = "-" if count < 0 else ""
    count = abs(count)
    for unit, size in (("TB", 1024**4), ("GB", 1024**3), ("MB", 1024**2), ("kB", 1024)):
        if count >= size:
            return "%s%.1f %s" % (sign, count / size, unit)
    return "%s%d B" % (sign, count)


def format_seconds(seconds):
    """Human form of a duration in seconds for messages: ``format_seconds(12.5) == '12.5 s'``."""
    if seconds is None:
        return "unknown"
    return "%.1f s" % seconds


def lsn_max(positions):
    """The furthest of some LSN strings, in PostgreSQL's text form; '' for none (empty or falsy items are skipped)."""
    parsed = [parse_lsn(text) for text in positions if text]
    return format_lsn(max(parsed)) if parsed else ""


_WAL_NAME_RE = re.compile(r"^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$")


def wal_segment_end(names, segment_size=16 * 1024**2):
    """The LSN where the furthest of some WAL segment files ends ('' for none).

    A WAL file name is timeline, log and segment, 8 hexadecimal digits each
    (``000000030000000A0000004F``); with ``segment_size`` bytes per segment
    the segment starts at ``log << 32 | segment * segment_size``. Timelines
    are ignored: the position alone orders the WAL of one history.
    """
    if isinstance(segment_size, bool) or not isinstance(segment_size, int) or segment_size <= 0:
        raise ValueError("segment_size must be a positive number of bytes, got %r" % (segment_size,))
    ends = []
    for name in names:
        if not name:
            continue
        match = _WAL_NAME_RE.match(name) if isinstance(name, str) else None
        if not match:
            raise ValueError("invalid WAL segment name %r: expected 24 hexadecimal digits" % (name,))
        ends.append((int(match.group(2), 16) << 32) + (int(match.group(3), 16) + 1) * segment_size)
    return format_lsn(max(ends)) if ends else ""
