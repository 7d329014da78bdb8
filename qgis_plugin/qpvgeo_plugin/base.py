"""Base class of the qpvgeo Processing algorithms.

It fixes the ids (``name()``/``groupId()`` never change; display names go through ``tr()``),
checks the Python dependencies (``canExecute``), turns the library's typed errors into
``QgsProcessingException`` (the message as the library wrote it, prefixed in French), forwards
the library's warnings to the log, and names and styles the output layers (illustrative data
gets " (illustratif)" in the layer name).
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any, ClassVar

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFields,
    QgsProcessingAlgorithm,
    QgsProcessingException,
    QgsProcessingLayerPostProcessorInterface,
    QgsProcessingParameterDefinition,
)
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from . import convert, deps, names, params, styling

ICON = os.path.join(deps.PLUGIN_DIR, "icon.svg")
ILLUSTRATIVE_SUFFIX = " (illustratif)"

# French heading of each library error type, before the library's message
ERROR_TITLES = {
    "MissingCRSError": "système de coordonnées (SCR) manquant",
    "CrsMismatchError": "systèmes de coordonnées incompatibles",
    "EmptyLayerError": "couche vide",
    "NoOverlapError": "les couches ne se recouvrent pas",
    "SchemaError": "champ manquant ou invalide",
    "CodeFormatError": "code mal formé (commune, IRIS, QPV)",
    "DuplicateKeyError": "codes en double",
    "InputFileError": "fichier introuvable ou illisible",
    "RasterError": "raster inutilisable",
}

GROUPS = {
    "thermographie": "Thermographie",
    "territoire": "Découpages et indicateurs",
    "thematiques": "Logement et santé",
    "portrait": "Portrait de territoire",
}


class _LayerPostProcessor(QgsProcessingLayerPostProcessorInterface):
    """Applies a QML style and a name to an output layer once QGIS has loaded it.

    Instances are kept alive in ``_alive`` until used: QGIS does not own them.
    """

    _alive: ClassVar[list[_LayerPostProcessor]] = []

    def __init__(self, qml: str | None, name: str | None) -> None:
        super().__init__()
        self.qml = qml
        self.name = name

    @classmethod
    def create(cls, qml: str | None, name: str | None) -> _LayerPostProcessor:
        inst = cls(qml, name)
        cls._alive.append(inst)
        return inst

    def postProcessLayer(self, layer: Any, context: Any, feedback: Any) -> None:
        if layer is None:
            return
        if self.qml:
            styling.apply_qml(layer, self.qml)
        if self.name:
            layer.setName(self.name)
        if self in self._alive:
            self._alive.remove(self)


@dataclasses.dataclass
class Zones:
    """A polygon layer (QPV, IRIS, communes…) read for the library, whose features come back
    in the output: its Processing source, its frame (feature ids as index) and its original
    geometries by feature id (written back unchanged)."""

    source: Any
    frame: Any
    geometries: dict = dataclasses.field(default_factory=dict)


class QpvgeoAlgorithm(QgsProcessingAlgorithm):
    """Common behaviour; subclasses set ``ALG_ID``, ``GROUP_ID`` and implement ``compute``."""

    ALG_ID = ""
    GROUP_ID = ""
    DEPENDENCIES: tuple[str, ...] = ("core",)

    # ---- identity ------------------------------------------------------------------------
    def tr(self, text: str) -> str:
        return QCoreApplication.translate("qpvgeo", text)

    def name(self) -> str:
        return self.ALG_ID

    def groupId(self) -> str:
        return self.GROUP_ID

    def group(self) -> str:
        return self.tr(GROUPS[self.GROUP_ID])

    def icon(self) -> QIcon:
        return QIcon(ICON)

    def createInstance(self) -> QpvgeoAlgorithm:
        return type(self)()

    # ---- dependencies ----------------------------------------------------------------------
    def canExecute(self) -> tuple[bool, str]:
        message = deps.missing_message(self.DEPENDENCIES)
        return (not message, message)

    # ---- execution -------------------------------------------------------------------------
    def processAlgorithm(self, parameters: dict, context: Any, feedback: Any) -> dict:
        message = deps.missing_message(self.DEPENDENCIES)
        if message:
            raise QgsProcessingException(message)
        from qpvgeo.errors import Cancelled, QpvgeoError

        self._illustrative = False
        self._styles: list[tuple[str, str]] = []
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                with deps.rasterio_blocked():
                    results = self.compute(parameters, context, feedback)
            except Cancelled as exc:
                raise QgsProcessingException(self.tr(
                    "qpvgeo : traitement annulé, aucune sortie n'a été écrite.")) from exc
            except QpvgeoError as exc:
                title = ERROR_TITLES.get(type(exc).__name__, type(exc).__name__)
                raise QgsProcessingException(
                    self.tr("qpvgeo — {} : {}").format(self.tr(title), exc)) from exc
            finally:
                self._report_warnings(caught, feedback)
        return results

    def _report_warnings(self, caught: list, feedback: Any) -> None:
        from qpvgeo._warnings_fr import french_warning
        from qpvgeo.errors import DataQualityWarning, IllustrativeDataWarning, QpvgeoWarning

        seen = set()
        for w in caught:
            text = str(w.message)
            if text in seen:
                continue
            seen.add(text)
            if issubclass(w.category, IllustrativeDataWarning):
                self._illustrative = True
            if issubclass(w.category, DataQualityWarning):  # the engines warn in English
                text = french_warning(text)  # a bare message: no category prefix
                feedback.pushWarning(self.tr("Qualité des données (qpvgeo) : {}").format(text))
            elif issubclass(w.category, QpvgeoWarning):
                feedback.pushWarning(self.tr("Avertissement qpvgeo : {}").format(text))
            else:
                feedback.pushDebugInfo(f"{w.category.__name__}: {text}")

    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        """Compute and write the outputs; return the result dict."""
        raise NotImplementedError

    # ---- inputs ----------------------------------------------------------------------------
    def read_layer(self, parameters: dict, name: str, context: Any, feedback: Any, label: str,
                   **kwargs: Any) -> Any:
        """GeoDataFrame of the feature source parameter ``name`` (see
        :func:`.convert.source_to_frame` for ``kwargs``); None for an optional layer left
        empty."""
        if parameters.get(name) in (None, ""):
            return None
        return convert.source_to_frame(self.parameterAsSource(parameters, name, context),
                                       label, feedback, **kwargs)

    def read_zones(self, parameters: dict, name: str, context: Any, feedback: Any,
                   label: str) -> Zones:
        """The zones of parameter ``name``, every field, original geometries kept for the
        output (:meth:`write_zones`)."""
        source = self.parameterAsSource(parameters, name, context)
        geometries: dict = {}
        frame = convert.source_to_frame(source, label, feedback, keep_geometries=geometries)
        return Zones(source, frame, geometries)

    def read_weights(self, parameters: dict, layer: str, field_param: str, context: Any,
                     feedback: Any) -> tuple[Any, str | None]:
        """Optional weights layer (buildings or dwellings) and its weight field: (None, None)
        when no layer is given; only the chosen field is read."""
        if parameters.get(layer) in (None, ""):
            return None, None
        weight_field = params.field_name(self, parameters, field_param, context)
        weights = self.read_layer(parameters, layer, context, feedback, self.tr("Poids"),
                                  fields=[weight_field] if weight_field else [])
        return weights, weight_field

    # ---- outputs ---------------------------------------------------------------------------
    def write_zones(self, parameters: dict, name: str, context: Any, feedback: Any,
                    zones: Zones, result: Any, *, keep: tuple[str, ...] = (),
                    ) -> tuple[str | None, Any]:
        """Write the zones with their fields followed by ``result``'s columns (by zone index,
        see :func:`join_result`), original geometries, to sink ``name``.

        The zones' own fields and ``keep`` keep their names (no French renaming). Returns the
        destination id and the joined table.
        """
        table = join_result(zones.frame, result)
        untouched = tuple(c for c in zones.frame.columns if c not in result.columns)
        dest = self.write_output(parameters, name, context, feedback, table,
                                 geometries=zones.geometries, crs=zones.source.sourceCrs(),
                                 wkb_type=convert.multi_type(zones.source.wkbType()),
                                 keep=(*untouched, *keep))
        return dest, table

    def write_output(self, parameters: dict, name: str, context: Any, feedback: Any,
                     frame: Any, *, keep: tuple[str, ...] = (), geometries: dict | None = None,
                     crs: Any = None, wkb_type: Any = None, base_fields: Any = None,
                     base_attributes: dict | None = None) -> str | None:
        """Write ``frame`` to the sink parameter ``name`` with French field names.

        Geometries come from ``geometries`` (original features by id, with ``crs`` and
        ``wkb_type``) or from the frame's geometry column; a plain DataFrame gives a table.
        With ``base_fields``/``base_attributes`` (the input layer's fields and raw attributes
        by feature id, or its columns: see :func:`.convert.write_frame`) the input attributes
        come first, unchanged; an input field with the name of an output field is left out.
        To a shapefile, text fields without a width get the width of their longest value
        (not 254 bytes each). Returns the destination id, or None for an optional output
        left empty.
        """
        rename = names.french_map([c for c in frame.columns if c != "geometry"], keep)
        shapefile = convert.is_shapefile(parameters.get(name))
        result_fields, columns = convert.frame_fields(frame, rename, text_widths=shapefile)
        fields = QgsFields()
        base_indices = None
        if base_fields is not None:
            taken = {f.name().lower() for f in result_fields}
            base_indices = [i for i, f in enumerate(base_fields)
                            if f.name().lower() not in taken]
            for i in base_indices:
                field = base_fields.at(i)
                if shapefile and base_attributes is not None:
                    field = convert.narrowed_text_field(field, _base_column(base_attributes, i))
                fields.append(field)
        for f in result_fields:
            fields.append(f)
        if wkb_type is None:
            wkb_type = convert.frame_wkb_type(frame)
        if crs is None:
            crs = convert.crs_from_pyproj(getattr(frame, "crs", None)) \
                if "geometry" in frame.columns else QgsCoordinateReferenceSystem()
        sink, dest_id = self.parameterAsSink(parameters, name, context, fields, wkb_type, crs)
        if sink is None:
            if self.parameterDefinition(name).flags() & \
                    QgsProcessingParameterDefinition.Flag.FlagOptional:
                return None
            raise QgsProcessingException(self.invalidSinkError(parameters, name))
        convert.write_frame(sink, frame, columns, feedback, geometries=geometries,
                            base_attributes=base_attributes, base_indices=base_indices)
        sink.flushBuffer()
        del sink  # close the file now (the style is written into GeoPackages afterwards)
        return dest_id

    def finish_layer(self, dest_id: str | None, context: Any, *, title: str,
                     illustrative: bool, qml: str | None = None) -> None:
        """Name (" (illustratif)" for stand-in data) and style an output layer.

        The style is applied when QGIS loads the layer, and stored in a GeoPackage output as
        its default style (see :meth:`postProcessAlgorithm`).
        """
        if dest_id is None:
            return
        name = title + (ILLUSTRATIVE_SUFFIX if illustrative else "")
        if qml:
            self._styles.append((dest_id, qml))
        if not context.willLoadLayerOnCompletion(dest_id):
            return
        details = context.layerToLoadOnCompletionDetails(dest_id)
        details.name = name
        details.setPostProcessor(_LayerPostProcessor.create(qml, name))

    def postProcessAlgorithm(self, context: Any, feedback: Any) -> dict:
        """Store the styles of GeoPackage outputs in the files (sinks are closed by now)."""
        for dest_id, qml in getattr(self, "_styles", []):
            try:
                styling.embed_in_geopackage(dest_id, qml)
            except Exception as exc:  # a style must never fail a finished computation
                feedback.pushWarning(self.tr("Style non enregistré dans {} : {}").format(
                    dest_id, exc))
        self._styles = []
        return {}


def _base_column(base_attributes: dict | list, i: int) -> Any:
    """Values of input field ``i`` in raw rows by feature id (dict) or input columns (list)."""
    if isinstance(base_attributes, dict):
        return (row[i] for row in base_attributes.values())
    return base_attributes[i]


def is_illustrative(*frames: Any) -> bool:
    """True when any input frame is illustrative stand-in data (column ``source``)."""
    from qpvgeo._validate import is_illustrative as _is

    return any(_is(f) for f in frames if f is not None)


def mark_illustrative(result: Any, *inputs: Any) -> bool:
    """Whether ``result`` or an input is illustrative stand-in data; if so and ``result`` has
    no ``source`` column, add one saying "illustratif" (the output must say so)."""
    illustrative = is_illustrative(result, *inputs)
    if illustrative and "source" not in result.columns:
        result["source"] = "illustratif"
    return illustrative


def join_result(zones: Any, result: Any) -> Any:
    """Zones' attributes (geometry dropped) followed by the result's columns, by zone index.

    A zone attribute with the name of a result column is replaced by the result's.
    """
    attrs = zones.drop(columns=[c for c in zones.columns
                                if c == zones.geometry.name or c in result.columns])
    return attrs.join(result)
