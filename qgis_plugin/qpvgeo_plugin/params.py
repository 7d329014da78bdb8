"""Shared parameter builders and checks of the algorithms (French help texts, advanced flags)."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QCoreApplication


def tr(text: str) -> str:
    return QCoreApplication.translate("qpvgeo", text)


def add(alg: Any, param: Any, help_text: str = "", *, advanced: bool = False) -> Any:
    """Add ``param`` to ``alg`` with its help text (``setHelp`` where QGIS has it)."""
    if help_text and hasattr(param, "setHelp"):
        param.setHelp(tr(help_text))
    if advanced:
        param.setFlags(param.flags() | QgsProcessingParameterDefinition.Flag.FlagAdvanced)
    alg.addParameter(param)
    return param


def add_zones(alg: Any, name: str) -> Any:
    """The zones parameter (polygons, any CRS) whose fields come back in the output."""
    return add(alg, QgsProcessingParameterFeatureSource(
        name, tr("Quartiers (QPV, IRIS, communes…)"),
        [QgsProcessing.SourceType.TypeVectorPolygon]),
        "Zones, n'importe quel SCR ; leurs champs sont recopiés dans la sortie.")


def add_weights(alg: Any, layer: str, field: str, layer_help: str, field_help: str) -> None:
    """The optional weights layer (buildings or dwellings) and its numeric weight field."""
    add(alg, QgsProcessingParameterFeatureSource(
        layer, tr("Poids (bâtiments ou logements) [facultatif]"),
        [QgsProcessing.SourceType.TypeVectorPolygon, QgsProcessing.SourceType.TypeVectorPoint],
        optional=True), layer_help)
    add(alg, QgsProcessingParameterField(
        field, tr("Champ de poids [facultatif]"), None, layer,
        QgsProcessingParameterField.DataType.Numeric, optional=True), field_help)


def add_min_share(alg: Any, name: str, help_text: str) -> Any:
    """The share (0–1) under which an IRIS × QPV overlap is dropped as digitising noise."""
    return add(alg, QgsProcessingParameterNumber(
        name, tr("Seuil des recoupements négligeables (part 0–1)"),
        QgsProcessingParameterNumber.Type.Double, 0.01, False, 0.0, 1.0), help_text,
        advanced=True)


def field_name(alg: Any, parameters: dict, name: str, context: Any) -> str | None:
    """The single field chosen for parameter ``name`` (None when left empty)."""
    values = alg.parameterAsFields(parameters, name, context)
    return values[0] if values else None


def text_key(frame: Any, column: str, label: str, kind: str) -> Any:
    """Return ``frame`` with the code field ``column`` as text.

    A code field stored as numbers (a CSV opened in QGIS types ``624980101`` as an integer)
    is turned into text and, for fixed-width codes (commune 5, IRIS 9), its lost leading
    zeros are restored, with a warning — as qpvgeo's file readers do.
    """
    import pandas as pd

    from qpvgeo._validate import normalize_codes

    if column not in frame.columns or not pd.api.types.is_numeric_dtype(frame[column]):
        return frame
    out = frame.copy()
    out[column] = normalize_codes(out[column], kind, name=label, column=column, pad=True,
                                  strict=False)
    return out


def matrix_rows(values: list, ncols: int) -> list[list[str]]:
    """Split the flat list of a matrix parameter into rows of ``ncols`` stripped strings."""
    from qgis.PyQt.QtCore import QVariant

    flat = ["" if v is None or (isinstance(v, QVariant) and v.isNull()) else str(v).strip()
            for v in (values or [])]
    rows = [flat[i:i + ncols] for i in range(0, len(flat), ncols)]
    return [r for r in rows if any(r)]


# usual spellings of the code fields in official files (see DOMAIN.md), by kind
KEY_CANDIDATES = {
    "iris": ["code_iris", "dcomiris", "iris_code", "cod_iris"],
    "qpv": ["code_qpv", "code_qp", "qp2024", "codeqp", "cod_qp"],
    "commune": ["insee_com", "code_insee", "depcom", "codgeo", "com"],
}


def key_field(alg: Any, parameters: dict, name: str, context: Any, frame: Any, kind: str,
              label: str) -> str:
    """The code field chosen for ``name``, else the usual spelling found in ``frame``."""
    chosen = field_name(alg, parameters, name, context)
    if chosen:
        return chosen
    lower = {str(c).lower(): str(c) for c in frame.columns}
    for cand in KEY_CANDIDATES[kind]:
        if cand in lower:
            return lower[cand]
    raise QgsProcessingException(tr(
        "Couche « {} » : aucun champ de code {} trouvé (cherché : {}). Choisissez le champ "
        "du code dans la boîte de dialogue.").format(
        label, kind.upper() if kind != "commune" else "commune",
        ", ".join(KEY_CANDIDATES[kind])))
