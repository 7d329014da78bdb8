"""Private helpers of :mod:`qpvgeo.io`: text tables, numbers, secret cells, coordinates.

Everything here works on tables read as text (every cell a string) so that codes keep their
leading zeros and INSEE secret markers can be told from numbers. Public behaviour is documented
on the readers of :mod:`qpvgeo.io`.
"""

from __future__ import annotations

import codecs
import re
import warnings
import zipfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import numpy as np
import pandas as pd
from pyproj import CRS, Transformer
from pyproj.exceptions import CRSError

from qpvgeo._progress import ProgressCallback, report
from qpvgeo._validate import LAMBERT93, missing_message
from qpvgeo.errors import (
    CrsMismatchError,
    DataQualityWarning,
    EmptyLayerError,
    InputFileError,
    SchemaError,
)

# Cells meaning "no value" in INSEE / ANCT / SDES tables. INSEE Filosofi uses ``s`` (secret),
# ``nd`` (not available) and ``ns`` (not significant); blanks occur everywhere. The others are
# seen in hand-made or older files. Comparison is case-insensitive, after stripping spaces.
MISSING_MARKERS: frozenset[str] = frozenset(
    {"", "s", "nd", "ns", "nc", "na", "n/a", "nan", "n.d.", "n.s.", "so", "-", "secret"}
)

_BOM = codecs.BOM_UTF8
_SAMPLE_BYTES = 1 << 22  # 4 MiB read to detect encoding and separator

# Overseas departments: CRS of coordinates published without an EPSG column (BPE, SIRENE stock,
# RPLS before the EPSG column). Keys are the first three characters of the commune code.
OVERSEAS_EPSG: dict[str, int] = {
    "971": 5490, "972": 5490, "977": 5490, "978": 5490,  # Antilles: RGAF09 / UTM 20N
    "973": 2972,  # Guyane: RGFG95 / UTM 22N
    "974": 2975,  # La Réunion: RGR92 / UTM 40S
    "975": 4467,  # Saint-Pierre-et-Miquelon: RGSPM06 / UTM 21N
    "976": 4471,  # Mayotte: RGM04 / UTM 38S
}


def check_file(path: str | Path) -> Path:
    """Return ``path`` as a Path, or raise :class:`InputFileError` when it does not exist."""
    p = Path(path)
    if not p.exists():
        parent = p.parent if str(p.parent) else Path(".")
        hint = ""
        if parent.is_dir():
            near = sorted(q.name for q in parent.iterdir() if q.suffix.lower() == p.suffix.lower())
            if near:
                hint = f" (files with the same extension there: {', '.join(near[:8])})"
        raise InputFileError(f"{p}: file not found{hint}; check the path")
    return p


def detect_encoding(path: Path) -> str:
    """Tell the encoding of a text file: ``utf-8-sig`` (BOM), ``utf-8``, else ``cp1252``.

    The first 4 MiB decide; :func:`read_text_table` falls back to cp1252/latin-1 if a later
    part of the file is not UTF-8. A ``.zip`` is looked into (see :func:`open_binary`).
    """
    with open_binary(path, name=path.name) as (fh, _size):
        sample = fh.read(_SAMPLE_BYTES)
    return encoding_of(sample)


def encoding_of(sample: bytes) -> str:
    """Encoding of a sample of bytes (see :func:`detect_encoding`)."""
    if sample.startswith(_BOM):
        return "utf-8-sig"
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(sample, final=len(sample) < _SAMPLE_BYTES)
    except UnicodeDecodeError:
        try:
            sample.decode("cp1252")
        except UnicodeDecodeError:
            return "latin-1"
        return "cp1252"
    return "utf-8"


def zip_member(path: Path, *, name: str) -> str:
    """Name of the data table inside a ``.zip`` (INSEE ships ``…_csv.zip`` with a metadata file).

    Text members (``.csv``, ``.txt``) whose name does not start with ``meta`` or ``doc`` are
    candidates; exactly one must remain.
    """
    try:
        with zipfile.ZipFile(path) as zf:
            names = [i.filename for i in zf.infolist() if not i.is_dir()]
    except zipfile.BadZipFile as exc:
        raise InputFileError(f"{name}: not a valid zip archive ({exc})") from exc
    texts = [n for n in names if n.lower().endswith((".csv", ".txt"))
             and not n.startswith("__MACOSX")]
    data = [n for n in texts if not Path(n).name.lower().startswith(("meta", "doc"))]
    if len(data) != 1:
        raise SchemaError(
            f"{name}: the archive holds {len(data)} data tables ({', '.join(texts) or 'none'}) "
            f"out of {', '.join(names[:10])}; unzip it and give the CSV file itself"
        )
    return data[0]


@contextmanager
def open_binary(path: Path, *, name: str) -> Iterator[tuple[IO[bytes], int]]:
    """Open a text table for reading bytes, looking into a ``.zip``; yields (file, size)."""
    if path.suffix.lower() == ".zip":
        member = zip_member(path, name=name)
        with zipfile.ZipFile(path) as zf, zf.open(member) as fh:
            yield fh, max(zf.getinfo(member).file_size, 1)
    else:
        with path.open("rb") as fh:
            yield fh, max(path.stat().st_size, 1)


def sniff_separator(header: str) -> str:
    """Pick the field separator of a header line among ``;``, ``,``, tab and ``|``."""
    counts = {sep: header.count(sep) for sep in (";", ",", "\t", "|")}
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else ";"


def read_text_table(
    path: Path,
    *,
    name: str,
    sep: str | None = None,
    keep: Callable[[pd.DataFrame], pd.Series] | None = None,
    progress: ProgressCallback | None = None,
    chunksize: int = 200_000,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Read a delimited text file with every cell as a string (``""`` for empty cells).

    Detects the encoding (UTF-8 with or without BOM, else cp1252) and the separator, strips
    header names, and drops trailing unnamed empty columns (``a;b;;``). With ``keep`` (a
    function of a chunk returning a boolean mask), the file is read ``chunksize`` rows at a
    time and only kept rows stay in memory: national files (RPLS, BPE, SIRENE) filtered to a
    territory fit in memory.

    Returns
    -------
    (DataFrame, dict)
        The table (index: row number in the file, 0-based) and ``{"encoding", "sep",
        "rows_read"}``.
    """
    with open_binary(path, name=name) as (fh, _size):
        sample = fh.read(_SAMPLE_BYTES)
    encoding = encoding_of(sample)
    header = sample.decode(encoding, errors="replace").split("\n", 1)[0]
    if not header.strip():
        raise EmptyLayerError(f"{name}: the file is empty (no header line); check the file")
    if sep is None:
        sep = sniff_separator(header)
    df = None
    rows_read = 0
    tried = [encoding, *(e for e in ("cp1252", "latin-1") if e != encoding)]
    last_error: Exception | None = None
    options: dict[str, Any] = {"sep": sep, "dtype": str, "keep_default_na": False,
                               "na_filter": False}
    for enc in tried:
        try:
            if keep is None and progress is None:
                with open_binary(path, name=name) as (fh, _size):
                    df = pd.read_csv(fh, encoding=enc, low_memory=False, **options)
                rows_read = len(df)
            else:
                df, rows_read = _read_chunks(path, name, enc, options, keep, progress,
                                             chunksize)
            encoding = enc
            break
        except UnicodeDecodeError as exc:
            last_error = exc
        except pd.errors.EmptyDataError as exc:
            raise EmptyLayerError(f"{name}: the file has no data; check the file") from exc
        except pd.errors.ParserError as exc:
            raise InputFileError(
                f"{name}: cannot parse as a '{sep}'-separated text table ({exc}); check that "
                "the file is a CSV and that every line has the same number of fields"
            ) from exc
    if df is None:
        raise InputFileError(
            f"{name}: cannot decode the file as UTF-8 or cp1252/latin-1 ({last_error}); "
            "re-save it as UTF-8"
        ) from last_error
    df.columns = [str(c).strip().lstrip("\ufeff") for c in df.columns]
    drop = [c for c in df.columns if (c == "" or c.startswith("Unnamed:"))
            and (df[c].astype(str).str.strip() == "").all()]
    if drop:
        df = df.drop(columns=drop)
    return df, {"encoding": encoding, "sep": sep, "rows_read": rows_read}


def _read_chunks(
    path: Path, name: str, encoding: str, options: dict[str, Any],
    keep: Callable[[pd.DataFrame], pd.Series] | None, progress: ProgressCallback | None,
    chunksize: int,
) -> tuple[pd.DataFrame, int]:
    parts: list[pd.DataFrame] = []
    rows = 0
    with open_binary(path, name=name) as (fh, size):
        reader = pd.read_csv(fh, encoding=encoding, chunksize=chunksize, **options)
        for chunk in reader:
            chunk.columns = [str(c).strip().lstrip("\ufeff") for c in chunk.columns]
            rows += len(chunk)
            parts.append(chunk.loc[keep(chunk).to_numpy()] if keep is not None else chunk)
            report(progress, fh.tell() / size, f"lecture de {path.name} : {rows:,} lignes"
                   .replace(",", " "))
    if not parts:
        raise pd.errors.EmptyDataError("no rows")
    return pd.concat(parts), rows


def is_missing_marker(values: pd.Series) -> pd.Series:
    """Boolean mask of cells holding a missing/secret marker (``s``, ``nd``, blank...)."""
    return _stripped(values).str.lower().isin(MISSING_MARKERS)


_COMMA_NUM = re.compile(r"^[+-]?\d+,\d+$")
_POINT_NUM = re.compile(r"^[+-]?\d*\.\d+$")
_THOUSANDS = re.compile(r"(?<=\d)[ \u00a0\u202f](?=\d{3}(\D|$))")


def parse_numbers(
    values: pd.Series, *, name: str, column: str
) -> tuple[pd.Series, pd.Series, list[str]]:
    """Parse text cells as floats; markers and blanks become NaN, never 0.

    The decimal separator is detected per column: a column whose decimals are all written with
    a comma (``12,5``) and never with a point is read with a decimal comma. Spaces used as
    thousands separators (``1 234``) are removed.

    Returns
    -------
    (Series, Series, list)
        Floats (index kept), the mask of cells that are missing (marker, blank or unparsable),
        and up to five unexpected non-numeric values (not known markers).

    Raises
    ------
    SchemaError
        When a column mixes decimal commas and decimal points.
    """
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        out = values.astype(float)
        return out, out.isna(), []
    s = _stripped(values)
    # fast path: plain numbers parse in C; only the cells that fail are looked at again
    out = pd.to_numeric(s, errors="coerce").astype(float)
    failed = out.isna() & (s != "")
    examples: list[str] = []
    if failed.any():
        sub = s[failed]
        marker = sub.str.lower().isin(MISSING_MARKERS)
        cand = sub[~marker].str.replace(_THOUSANDS, "", regex=True)
        comma = cand.str.match(_COMMA_NUM)
        if comma.any():
            point = s.str.match(_POINT_NUM)
            if point.any():
                raise SchemaError(
                    f"{name}: column {column} mixes decimal commas (e.g. {cand[comma].iloc[0]})"
                    f" and decimal points (e.g. {s[point].iloc[0]}); fix the column so one "
                    "decimal separator is used"
                )
            cand = cand.where(~comma, cand.str.replace(",", ".", regex=False))
        if len(cand):
            reparsed = pd.to_numeric(cand, errors="coerce").astype(float)
            out.loc[reparsed.index] = reparsed
            unknown = reparsed.isna()
            examples = [str(v) for v in pd.unique(sub[~marker][unknown.to_numpy()])[:5]]
    return out, out.isna(), examples


def _stripped(values: pd.Series) -> pd.Series:
    """Cells as stripped text, ``""`` for missing ones (index kept)."""
    return values.astype(object).where(values.notna(), "").astype(str).str.strip()


def looks_numeric(values: pd.Series) -> bool:
    """True when at least one non-marker cell of a text column parses as a number."""
    s = values.astype(object).where(values.notna(), "").astype(str).str.strip()
    s = s[~s.str.lower().isin(MISSING_MARKERS)]
    if s.empty:
        return False
    s = s.str.replace(_THOUSANDS, "", regex=True).str.replace(",", ".", regex=False)
    return bool(pd.to_numeric(s, errors="coerce").notna().any())


def text_or_none(values: pd.Series) -> pd.Series:
    """Strip text cells; blanks and missing markers become None (object dtype, index kept)."""
    s = _stripped(values)
    missing = s.str.lower().isin(MISSING_MARKERS)
    return s.astype(object).where(~missing, None)


def warn_unknown(name: str, column: str, examples: Iterable[str], n: int, what: str) -> None:
    """Warn that ``n`` cells of ``column`` were unreadable and set missing."""
    ex = ", ".join(repr(e) for e in examples)
    warnings.warn(
        f"{name}: column {column} has {n} value(s) that are not {what} (e.g. {ex}); "
        "they are set missing (NaN), not 0. Check the column if this is unexpected",
        DataQualityWarning, stacklevel=4,
    )


def resolve_columns(
    df: pd.DataFrame,
    spec: Mapping[str, Sequence[str]],
    *,
    name: str,
    required: Iterable[str],
    columns: Mapping[str, str | None] | None = None,
    nullable: Iterable[str] = (),
) -> dict[str, str | None]:
    """Map each normalised field of ``spec`` to a column of ``df`` (case-insensitive).

    Parameters
    ----------
    spec
        ``{normalised name: (official name, accepted alternatives...)}``; the normalised name
        itself is always accepted.
    required
        Normalised names that must be found.
    columns
        User override ``{official or normalised name: column in the file}``; a value ``None``
        declares the column absent (the field is then missing).

    Returns
    -------
    dict
        ``{normalised name: actual column or None}``.

    Raises
    ------
    SchemaError
        Listing every required column not found, what the file has, and the ``columns=`` fix.
    """
    lower = {str(c).lower(): str(c) for c in df.columns}
    override: dict[str, str | None] = {}
    if columns:
        alias_to_field = {}
        for field, aliases in spec.items():
            for alias in (field, *aliases):
                alias_to_field[alias.lower()] = field
        for key, value in columns.items():
            target = alias_to_field.get(str(key).lower())
            if target is None:
                known = ", ".join(f"{a[0] if a else f}" for f, a in spec.items())
                raise SchemaError(
                    f"{name}: columns= names {key!r}, which this reader does not use; "
                    f"use one of {known} (or the normalised names {', '.join(spec)})"
                )
            if value is not None and str(value).lower() not in lower:
                raise SchemaError(missing_message(
                    name, [str(value)], df.columns,
                    f"columns={{{key!r}: {value!r}}} names a column the file does not have"))
            override[target] = None if value is None else lower[str(value).lower()]
    req = list(required)
    can_be_none = set(nullable) | (set(spec) - set(req))
    refused = [f for f, col in override.items() if col is None and f not in can_be_none]
    if refused:
        raise SchemaError(
            f"{name}: columns= declares {', '.join(spec[f][0] for f in refused)} absent, but "
            "this reader cannot work without it; name the column of your file instead"
        )
    found: dict[str, str | None] = {}
    for field, aliases in spec.items():
        if field in override:
            found[field] = override[field]
            continue
        found[field] = None
        for cand in (*aliases, field):
            if cand.lower() in lower:
                found[field] = lower[cand.lower()]
                break
    missing = [f for f in req if found.get(f) is None and f not in override]
    if missing:
        official = [spec[f][0] if spec[f] else f for f in missing]
        alts = "; ".join(
            f"{spec[f][0]}: also accepted {', '.join(spec[f][1:]) or '-'}" for f in missing
            if spec[f]
        )
        example = ", ".join(f"{o!r}: '<column in your file>'" for o in official)
        hint = (f"rename the column(s) or pass columns={{{example}}}"
                + (f" ({alts})" if alts else ""))
        absent = [spec[f][0] for f in missing if f in set(nullable)]
        if absent:
            none_example = ", ".join(f"{o!r}: None" for o in absent)
            hint += (f"; if your file has no such column pass columns={{{none_example}}} "
                     "(the field is then missing, NaN)")
        raise SchemaError(missing_message(name, official, df.columns, hint))
    return found


def assemble(
    normalised: Mapping[str, Any],
    original: pd.DataFrame,
    used: Iterable[str | None],
    *,
    index: pd.Index,
) -> pd.DataFrame:
    """Build the output table: normalised columns first, then ``source``, then the rest.

    Original columns consumed by a normalised field (``used``) are dropped; an original column
    whose lower-case name equals a normalised name is dropped too (no duplicates).
    """
    out = pd.DataFrame(dict(normalised), index=index)
    used_set = {u for u in used if u is not None}
    taken = {c.lower() for c in out.columns}
    src = next((c for c in original.columns if str(c).lower() == "source"), None)
    if src is not None and "source" not in out.columns:
        out["source"] = original.loc[index, src].astype(object).to_numpy()
        used_set.add(src)
        taken.add("source")
    rest = [c for c in original.columns
            if c not in used_set and str(c).lower() not in taken and c != "geometry"]
    if rest:
        out = pd.concat([out, original.loc[index, rest]], axis=1)
    return out


def epsg_of(value: Any, *, name: str, column: str) -> CRS:
    """Turn one value of an ``EPSG`` column (``2154``, ``"EPSG:2154"``, ``2154.0``) into a CRS."""
    text = str(value).strip()
    text = re.sub(r"^(epsg:)", "", text, flags=re.IGNORECASE)
    try:
        code = int(float(text))
        return CRS.from_epsg(code)
    except (ValueError, CRSError) as exc:
        raise SchemaError(
            f"{name}: column {column} holds {value!r}, which is not an EPSG code; expected "
            "codes such as 2154 (Lambert-93) or 5490 (Antilles UTM 20N)"
        ) from exc


def default_epsg_by_commune(communes: pd.Series) -> pd.Series:
    """EPSG code of coordinates published without an EPSG column, from the commune code.

    Lambert-93 (2154) in metropolitan France and Corsica; local UTM overseas (see
    :data:`OVERSEAS_EPSG`). Index kept.
    """
    prefix = communes.astype(object).where(communes.notna(), "").astype(str).str[:3]
    return prefix.map(lambda p: OVERSEAS_EPSG.get(p, 2154)).astype(int)


def points_from_columns(
    df: pd.DataFrame,
    *,
    name: str,
    x: str | None,
    y: str | None,
    epsg: pd.Series | None,
    lon: str | None = None,
    lat: str | None = None,
    what: str = "row",
) -> tuple[gpd.GeoSeries, pd.Series]:
    """Build Lambert-93 points from coordinate columns, one CRS per row.

    Parameters
    ----------
    x, y
        Projected coordinate columns (metres), in the CRS given row by row by ``epsg``.
    epsg
        CRS of each row (EPSG codes, any form :func:`epsg_of` accepts); index of ``df``.
    lon, lat
        WGS84 columns (degrees), used for rows whose projected coordinates are missing.

    Returns
    -------
    (GeoSeries, Series)
        Points in EPSG:2154 for the rows that have coordinates (index kept), and the boolean
        mask of rows that have them.
    """
    xs = ys = None
    if x is not None and y is not None:
        xs, _, _ = parse_numbers(df[x], name=name, column=x)
        ys, _, _ = parse_numbers(df[y], name=name, column=y)
    n = len(df)
    out_x = np.full(n, np.nan)
    out_y = np.full(n, np.nan)
    if xs is not None and ys is not None and epsg is not None:
        have = (xs.notna() & ys.notna()).to_numpy().copy()
        codes = epsg.astype(object).where(epsg.notna(), None)
        code_text = codes.map(lambda val: None if val is None or str(val).strip() == "" else
                              str(val).strip()).to_numpy()
        have &= pd.notna(code_text)
        for code in pd.unique(code_text[have]):
            rows = have & (code_text == code)
            crs = epsg_of(code, name=name, column="EPSG")
            if crs.equals(LAMBERT93):
                out_x[rows], out_y[rows] = xs.to_numpy()[rows], ys.to_numpy()[rows]
            else:
                tr = Transformer.from_crs(crs, LAMBERT93, always_xy=True)
                out_x[rows], out_y[rows] = _transform(tr, xs.to_numpy()[rows], ys.to_numpy()[rows])
    if lon is not None and lat is not None:
        need = np.isnan(out_x)
        lons, _, _ = parse_numbers(df[lon], name=name, column=lon)
        lats, _, _ = parse_numbers(df[lat], name=name, column=lat)
        ok = need & (lons.notna() & lats.notna()).to_numpy()
        if ok.any():
            tr = Transformer.from_crs(4326, LAMBERT93, always_xy=True)
            out_x[ok], out_y[ok] = _transform(tr, lons.to_numpy()[ok], lats.to_numpy()[ok])
    valid = np.isfinite(out_x) & np.isfinite(out_y)
    mask = pd.Series(valid, index=df.index)
    pts = gpd.GeoSeries(gpd.points_from_xy(out_x[valid], out_y[valid]),
                        index=df.index[valid], crs=LAMBERT93)
    return pts, mask


def _transform(tr: Transformer, x: np.ndarray, y: np.ndarray) -> tuple[Any, Any]:
    """Transform coordinate arrays (older pyproj takes a 1-element array for a scalar)."""
    if len(x) == 1:
        px, py = tr.transform(float(x[0]), float(y[0]))
        return np.array([px]), np.array([py])
    return tr.transform(x, y)


def check_declared_crs(declared: Any, given: Any, *, name: str) -> None:
    """Refuse ``crs=`` on a file that declares a different CRS (qpvgeo never overrides one)."""
    if given is None or declared is None:
        return
    if not CRS.from_user_input(declared).equals(CRS.from_user_input(given)):
        decl = CRS.from_user_input(declared)
        label = f"EPSG:{decl.to_epsg()}" if decl.to_epsg() else decl.name
        raise CrsMismatchError(
            f"{name}: the file declares its CRS ({label}) and crs={given!r} was also given; "
            "crs= is only for files without a CRS. If the declared CRS is wrong, fix the file "
            "(in QGIS: Layer > Set CRS, then export) and drop crs="
        )
