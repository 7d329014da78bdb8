"""Typed errors and warnings of qpvgeo.

Every error raised on bad input derives from :class:`QpvgeoError` and from the builtin that fits
(``ValueError`` for bad content, ``OSError`` for unreadable files), so callers may catch either.
Messages name the file (or layer), the column and the fix, e.g.::

    rpls_2023.csv: no column DEPCOM (found depcom_code); rename it or pass commune_col='depcom_code'

The command-line tool and the QGIS plugin catch :class:`QpvgeoError` and show its message as is.
"""

from __future__ import annotations

__all__ = [
    "Cancelled",
    "CodeFormatError",
    "CrsMismatchError",
    "DataQualityWarning",
    "DuplicateKeyError",
    "EmptyLayerError",
    "IllustrativeDataWarning",
    "InputFileError",
    "MissingCRSError",
    "NoOverlapError",
    "QpvgeoError",
    "QpvgeoWarning",
    "RasterError",
    "SchemaError",
]


class QpvgeoError(Exception):
    """Root of every qpvgeo error."""


class InputFileError(QpvgeoError, OSError):
    """A file cannot be found, opened or decoded."""


class SchemaError(QpvgeoError, ValueError):
    """A table or layer lacks a required column, or a column has the wrong content."""


class MissingCRSError(QpvgeoError, ValueError):
    """A layer or raster has no coordinate reference system and none was given."""


class CrsMismatchError(QpvgeoError, ValueError):
    """Two inputs are in different CRS where the operation cannot reproject them itself."""


class EmptyLayerError(QpvgeoError, ValueError):
    """A layer or table has no feature (or none left after filtering)."""


class DuplicateKeyError(QpvgeoError, ValueError):
    """A key column that must be unique (IRIS code, QPV code, RPLS identifier) has duplicates."""


class CodeFormatError(QpvgeoError, ValueError):
    """A code (INSEE commune, IRIS, QPV) is malformed, e.g. read as an integer with lost zeros."""


class NoOverlapError(QpvgeoError, ValueError):
    """Inputs do not overlap (a raster off the zones, zones outside every source unit)."""


class RasterError(QpvgeoError, ValueError):
    """A raster cannot be used as given (rotated pixels, no band, unsupported type)."""


class Cancelled(QpvgeoError):
    """The user cancelled a long operation (QGIS feedback, Ctrl-C); nothing was written."""


class QpvgeoWarning(UserWarning):
    """Root of qpvgeo warnings."""


class DataQualityWarning(QpvgeoWarning):
    """Input was usable but repaired or incomplete (invalid geometries, secret cells, slivers)."""


class IllustrativeDataWarning(QpvgeoWarning):
    """Results are computed from illustrative stand-in data, not official data."""
