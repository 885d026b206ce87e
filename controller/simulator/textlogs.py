"""How the simulated agent cuts a text file's lines into records.

Without ``settings.text.recordStartTimestampFormat`` every line is a record; with it, a record
starts at a line that begins with a timestamp in that format and takes the lines after it that
don't (vm/data-collection-log-text.md; azure-facts.md "AMA and text-log DCRs"). Which strings
each format name accepts is not documented beyond its name: the patterns below read the names
literally (`ISO 8601` as `YYYY-MM-DDTHH:MM:SS` without brackets). Lines before the first record
start are records of their own.
"""

from __future__ import annotations

import fnmatch
import re

_D2 = r"\d{2}"
_TIME = rf"{_D2}:{_D2}:{_D2}"
RECORD_START = {
    "ISO 8601": re.compile(rf"\d{{4}}-{_D2}-{_D2}T{_TIME}"),
    "YYYY-MM-DD HH:MM:SS": re.compile(rf"\d{{4}}-{_D2}-{_D2} {_TIME}"),
    "M/D/YYYY HH:MM:SS AM/PM": re.compile(r"\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2}:\d{2} [AP]M"),
    "Mon DD, YYYY HH:MM:SS": re.compile(rf"[A-Z][a-z]{{2}} \d{{1,2}}, \d{{4}} {_TIME}"),
    "yyMMdd HH:mm:ss": re.compile(rf"\d{{6}} {_TIME}"),
    "ddMMyy HH:mm:ss": re.compile(rf"\d{{6}} {_TIME}"),
    "MMM d hh:mm:ss": re.compile(rf"[A-Z][a-z]{{2}} +\d{{1,2}} {_TIME}"),
    "dd/MMM/yyyy:HH:mm:ss zzz": re.compile(rf"{_D2}/[A-Z][a-z]{{2}}/\d{{4}}:{_TIME} [+-]\d{{4}}"),
    "yyyy-MM-ddTHH:mm:ssK": re.compile(rf"\d{{4}}-{_D2}-{_D2}T{_TIME}(?:Z|[+-]{_D2}:{_D2})"),
}


def records(lines: list[str], record_start: str | None) -> list[str]:
    """The records the agent sends for these lines of one file."""
    start = RECORD_START.get(record_start or "")
    if start is None:
        return list(lines)
    out: list[str] = []
    joining = False  # the last record began with a timestamp: lines without one continue it
    for line in lines:
        if start.match(line):
            out.append(line)
            joining = True
        elif joining:
            out[-1] += "\n" + line
        else:
            out.append(line)
    return out


def matches(path: str, patterns: list[str]) -> bool:
    """The agent's file patterns wildcard the file name (a pattern with a wildcard in a directory
    collects nothing: see ``logs.directory_wildcard``, applied before this)."""
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)
