"""An export folder as one deterministic ZIP (the web page's download; ``jk500db.export.jobs`` writes it).

Entries are sorted by path, every entry is dated with the moment the data stand for (the newest audit event the
snapshot includes, never the clock) and given the same permissions and "made on" system, so two exports of the
same data asked for at the same moment are the same bytes. Files are copied in blocks: memory stays flat however
large the export.
"""

from __future__ import annotations

import datetime as dt
import shutil
import zipfile
from pathlib import Path
from typing import IO

from jk500db.export.runner import ExportResult

#: Permissions of every entry in the ZIP (a regular file, rw-r--r--), whatever the server's umask.
ZIP_FILE_MODE = 0o100644
#: "Made on Unix" in each entry, so the bytes do not depend on the server's operating system.
ZIP_UNIX = 3
#: Files are copied into the ZIP in blocks of this size, so memory stays flat however large the export.
COPY_BLOCK = 1 << 20


def zip_date_time(moment: dt.datetime) -> tuple[int, int, int, int, int, int]:
    """A ZIP entry's date and time (no zone: UTC by convention here), clamped to what the format can hold."""
    moment = moment.astimezone(dt.UTC)
    year = min(max(moment.year, 1980), 2107)
    return (year, moment.month, moment.day, moment.hour, moment.minute, moment.second)


def write_zip(folder: Path, target: IO[bytes], moment: dt.datetime) -> None:
    """Every file under ``folder`` into ``target``: sorted by path, one date, one mode, streamed in blocks.

    Nothing of the server (clock, umask, file system order, operating system) reaches the bytes.
    """
    files = sorted((p.relative_to(folder).as_posix(), p) for p in folder.rglob("*") if p.is_file())
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, path in files:
            info = zipfile.ZipInfo(name, date_time=zip_date_time(moment))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = ZIP_UNIX
            info.external_attr = ZIP_FILE_MODE << 16
            info.file_size = path.stat().st_size  # lets zipfile choose ZIP64 for a very large file up front
            with path.open("rb") as source, archive.open(info, "w") as entry:
                shutil.copyfileobj(source, entry, COPY_BLOCK)


def data_moment(result: ExportResult) -> dt.datetime:
    """The moment the export's data stand for, as its manifest says: the date of every ZIP entry."""
    return dt.datetime.fromisoformat(result.manifest["audit"]["data_moment"])


def zip_name(result: ExportResult) -> str:
    """The name the browser saves the ZIP under: the audit position the data stand on."""
    return f"jk500_export_{result.manifest['audit']['position']}.zip"
