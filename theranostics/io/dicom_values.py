"""Small readers of DICOM values: dates, times, numbers, with the file and tag in every error.

pydicom returns raw strings for DA/TM/DT when ``datetime_conversion`` is off (the default);
these helpers parse them once, accept the variants scanners write (fractional seconds, missing
seconds, trailing spaces), and return ``None`` for absent or empty values.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta

from pydicom.dataset import Dataset
from pydicom.tag import Tag

from ..errors import InvalidTagError


def tag_label(keyword: str) -> str:
    """``"Keyword (gggg,eeee)"`` for messages."""
    tag = Tag(keyword)
    return f"{keyword} ({tag.group:04X},{tag.element:04X})"


def raw(ds: Dataset, keyword: str, *, path=None):
    """The value of ``keyword`` or ``None`` when absent or empty.

    Raises:
        InvalidTagError: the stored bytes cannot be decoded as the tag's VR (pydicom
            converts values when first read, e.g. ``":"`` in a DS).
    """
    try:
        elem = ds.get(keyword)
    except (ValueError, TypeError, OverflowError, UnicodeDecodeError) as exc:
        raise InvalidTagError(
            f"value cannot be decoded ({exc})",
            path=path,
            tag=tag_label(keyword),
            fix="correct or remove the tag",
        ) from exc
    if elem is None:
        return None
    if isinstance(elem, str) and not elem.strip():
        return None
    if hasattr(elem, "__len__") and not isinstance(elem, str) and len(elem) == 0:
        return None
    return elem


def text(ds: Dataset, keyword: str) -> str | None:
    """String value with surrounding spaces removed, or ``None``."""
    value = raw(ds, keyword)
    return None if value is None else str(value).strip() or None


def number(ds: Dataset, keyword: str, *, path=None) -> float | None:
    """Numeric (DS/IS/US/FL ...) value as float, or ``None``; NaN/inf raise."""
    value = raw(ds, keyword, path=path)
    if value is None:
        return None
    try:
        result = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidTagError(
            f"value {value!r} is not a number",
            path=path,
            tag=tag_label(keyword),
            fix="correct or remove the tag",
        ) from exc
    if not math.isfinite(result):
        raise InvalidTagError(
            f"value {value!r} is not finite",
            path=path,
            tag=tag_label(keyword),
            fix="correct or remove the tag",
        )
    return result


def numbers(ds: Dataset, keyword: str, count: int, *, path=None) -> tuple[float, ...] | None:
    """A multi-valued numeric tag with exactly ``count`` finite values, or ``None``."""
    value = raw(ds, keyword, path=path)
    if value is None:
        return None
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        values = [value]  # a single value where several are required
    else:
        values = list(value)
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError) as exc:
        raise InvalidTagError(
            f"value {value!r} is not numeric",
            path=path,
            tag=tag_label(keyword),
            fix="correct the tag",
        ) from exc
    if len(result) != count or not all(math.isfinite(v) for v in result):
        raise InvalidTagError(
            f"expected {count} finite numbers, found {[str(v) for v in values]!r}",
            path=path,
            tag=tag_label(keyword),
            fix="correct the tag",
        )
    return result


def parse_da(value: str, *, path=None, keyword: str = "date") -> date:
    """DICOM DA ``YYYYMMDD`` (also the old ``YYYY.MM.DD``) to ``date``."""
    s = str(value).strip().replace(".", "")
    try:
        return datetime.strptime(s, "%Y%m%d").date()
    except ValueError as exc:
        raise InvalidTagError(
            f"date {value!r} is not YYYYMMDD",
            path=path,
            tag=_label(keyword),
            fix="correct the date tag",
        ) from exc


_TM = re.compile(r"^(\d{2})(?::?(\d{2}))?(?::?(\d{2}))?(?:\.(\d{1,6}))?$")


def parse_tm(value: str, *, path=None, keyword: str = "time") -> time:
    """DICOM TM ``HHMMSS.FFFFFF`` (parts optional, old ``HH:MM:SS`` accepted) to ``time``."""
    s = str(value).strip()
    m = _TM.match(s)
    if not m:
        raise InvalidTagError(
            f"time {value!r} is not HHMMSS.FFFFFF",
            path=path,
            tag=_label(keyword),
            fix="correct the time tag",
        )
    hh, mm, ss, frac = m.groups()
    micro = int((frac or "0").ljust(6, "0"))
    second = int(ss or 0)
    try:
        if second == 60:  # leap second as some scanners write it
            return (
                datetime.combine(date(2000, 1, 1), time(int(hh), int(mm or 0), 59, micro))
                + timedelta(seconds=1)
            ).time()
        return time(int(hh), int(mm or 0), second, micro)
    except ValueError as exc:
        raise InvalidTagError(
            f"time {value!r} is out of range",
            path=path,
            tag=_label(keyword),
            fix="correct the time tag",
        ) from exc


_DT = re.compile(r"^(\d{8})(\d{2,6}(?:\.\d{1,6})?)?([+-]\d{4})?$")


def parse_dt(value: str, *, path=None, keyword: str = "datetime") -> datetime:
    """DICOM DT ``YYYYMMDDHHMMSS.FFFFFF&ZZXX`` to a naive ``datetime`` (offset dropped; all
    times of one study share a clock)."""
    s = str(value).strip()
    m = _DT.match(s)
    if not m:
        raise InvalidTagError(
            f"datetime {value!r} is not YYYYMMDDHHMMSS.FFFFFF",
            path=path,
            tag=_label(keyword),
            fix="correct the datetime tag",
        )
    day = parse_da(m.group(1), path=path, keyword=keyword)
    clock = parse_tm(m.group(2), path=path, keyword=keyword) if m.group(2) else time(0)
    return datetime.combine(day, clock)


def _label(keyword: str) -> str:
    try:
        return tag_label(keyword)
    except (ValueError, TypeError):
        return keyword


def datetime_from(
    ds: Dataset,
    dt_keyword: str | None,
    da_keyword: str | None,
    tm_keyword: str | None,
    *,
    path=None,
    fallback_date: date | None = None,
) -> tuple[datetime | None, str]:
    """A datetime from a DT tag, or a DA + TM pair, or a TM with ``fallback_date``.

    Returns ``(value, source)`` where ``source`` names the tag(s) used, or ``(None, "")``.
    """
    if dt_keyword and (v := text(ds, dt_keyword)):
        return parse_dt(v, path=path, keyword=dt_keyword), dt_keyword
    tm = text(ds, tm_keyword) if tm_keyword else None
    if tm is None:
        return None, ""
    clock = parse_tm(tm, path=path, keyword=tm_keyword)
    if da_keyword and (d := text(ds, da_keyword)):
        return datetime.combine(parse_da(d, path=path, keyword=da_keyword), clock), (
            f"{da_keyword}+{tm_keyword}"
        )
    if fallback_date is not None:
        return datetime.combine(fallback_date, clock), f"{tm_keyword} (date from series/study)"
    return None, ""


def integer(ds: Dataset, keyword: str, *, path=None, required: bool = False) -> int | None:
    """An integer tag (US/IS ...) as ``int``; ``None`` when absent, unless ``required``.

    Raises:
        MissingTagError: absent and ``required``.
        InvalidTagError: not an integer.
    """
    value = number(ds, keyword, path=path)
    if value is None:
        if required:
            from ..errors import MissingTagError

            raise MissingTagError(
                f"{keyword} is missing",
                path=path,
                tag=tag_label(keyword),
                fix="the image cannot be decoded without it: re-export the series",
            )
        return None
    if not float(value).is_integer():
        raise InvalidTagError(
            f"value {value!r} is not an integer",
            path=path,
            tag=tag_label(keyword),
            fix="correct the tag",
        )
    return int(value)


def first_item(ds: Dataset, keyword: str) -> Dataset | None:
    """The first item of a sequence, or ``None`` if the sequence is absent or empty."""
    seq = ds.get(keyword)
    if seq is None or len(seq) == 0:
        return None
    return seq[0]
