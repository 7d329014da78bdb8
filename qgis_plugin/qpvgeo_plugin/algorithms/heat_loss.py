"""Déperditions thermiques par bâtiment: ``qpvgeo.thermography.building_heat_loss``."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBand,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterLayer,
    QgsProcessingParameterString,
)

from .. import convert, fastpath, names, params, styling
from ..base import QpvgeoAlgorithm
from ..feedback import progress_callback

SCHEMES = ("classes", "quartiles", "seuils")


class BuildingHeatLoss(QpvgeoAlgorithm):
    ALG_ID = "building_heat_loss"
    GROUP_ID = "thermographie"

    RASTER = "RASTER"
    BAND = "BAND"
    BUILDINGS = "BUILDINGS"
    SCHEME = "SCHEME"
    BREAKS = "BREAKS"
    INTERIOR_BUFFER = "INTERIOR_BUFFER"
    MIN_VALID_PIXELS = "MIN_VALID_PIXELS"
    COVERAGE = "COVERAGE"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:
        return self.tr("Déperditions thermiques par bâtiment")

    def shortHelpString(self) -> str:
        return self.tr(
            "Classe de déperdition thermique de chaque bâtiment à partir d'une thermographie "
            "aérienne : raster déjà classé (par défaut les 4 classes de la CALL : 1 faibles, "
            "2 moyennes, 3 fortes, 4 excessives ; 0 = non mesuré) ou températures apparentes "
            "(°C) classées par quartiles de la scène ou par seuils.\n\n"
            "Chaque toit est mesuré sur son intérieur (emprise réduite de 1 m) avec la part "
            "exacte de chaque pixel couverte par le polygone (couverture exacte, comme "
            "exactextract). Un toit avec trop peu de pixels valides est « non classé », un "
            "toit sans pixel valide « non mesuré » : jamais deviné.\n\n"
            "Sortie : les bâtiments avec leurs champs et classe_deperdition, "
            "libelle_deperdition, part_classe, part_classe_<valeur>, surface_mesuree_m2, "
            "couverture_mesure…, stylés avec les couleurs des classes. Calcul : "
            "qpvgeo.thermography.building_heat_loss ; le raster est lu par le GDAL de QGIS.")

    def initAlgorithm(self, config: Any = None) -> None:
        params.add(self, QgsProcessingParameterRasterLayer(
            self.RASTER, self.tr("Thermographie aérienne (raster)")),
            "Raster classé (valeurs de classe) ou températures apparentes, n'importe quel "
            "SCR (la CALL publie en CC50, EPSG:3950).")
        params.add(self, QgsProcessingParameterBand(
            self.BAND, self.tr("Bande"), 1, self.RASTER, optional=True), advanced=True)
        params.add(self, QgsProcessingParameterFeatureSource(
            self.BUILDINGS, self.tr("Bâtiments (emprises)"),
            [QgsProcessing.SourceType.TypeVectorPolygon]),
            "Emprises des bâtiments (BD TOPO BATIMENT), n'importe quel SCR.")
        params.add(self, QgsProcessingParameterEnum(
            self.SCHEME, self.tr("Contenu du raster"), [
                self.tr("Classes de déperdition (1 faibles … 4 excessives, 0 non mesuré)"),
                self.tr("Températures apparentes : quartiles de la scène"),
                self.tr("Températures apparentes : seuils en °C"),
            ], defaultValue=0),
            "Classes : chaque toit prend la classe majoritaire de sa surface mesurée. "
            "Températures : moyenne par toit comparée aux quartiles de la scène ou aux seuils.")
        params.add(self, QgsProcessingParameterString(
            self.BREAKS, self.tr("Seuils en °C (3 valeurs, pour « seuils »)"), "",
            optional=True),
            "Trois seuils croissants séparés par des espaces ou des points-virgules, ex. "
            "« -2 0 2 » : faibles < -2 ≤ moyennes < 0 ≤ fortes < 2 ≤ excessives.")
        params.add(self, QgsProcessingParameterNumber(
            self.INTERIOR_BUFFER, self.tr("Tampon intérieur des toits (m)"),
            QgsProcessingParameterNumber.Type.Double, 1.0, False, 0.0, 50.0),
            "Emprise réduite de cette distance (mètres) pour écarter les pixels mêlant toit, "
            "murs et sol. 0 : emprise entière.", advanced=True)
        params.add(self, QgsProcessingParameterNumber(
            self.MIN_VALID_PIXELS, self.tr("Nombre minimal de pixels valides"),
            QgsProcessingParameterNumber.Type.Double, 4.0, False, 0.0),
            "Sous ce nombre (pondéré par la couverture), le toit est « non classé ».",
            advanced=True)
        params.add(self, QgsProcessingParameterEnum(
            self.COVERAGE, self.tr("Pondération des pixels"), [
                self.tr("Couverture exacte (part de chaque pixel dans le polygone)"),
                self.tr("Centre des pixels (pixel compté si son centre est dedans)"),
            ], defaultValue=0), advanced=True)
        params.add(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Bâtiments classés"),
            QgsProcessing.SourceType.TypeVectorPolygon))

    def scheme(self, parameters: dict, context: Any) -> Any:
        from qpvgeo.thermography import DEFAULT_SCHEME, HeatLossScheme

        kind = SCHEMES[self.parameterAsEnum(parameters, self.SCHEME, context)]
        if kind == "classes":
            return DEFAULT_SCHEME
        if kind == "quartiles":
            return HeatLossScheme.temperature()
        text = self.parameterAsString(parameters, self.BREAKS, context) or ""
        try:
            breaks = [float(v.replace(",", ".")) for v in
                      text.replace(";", " ").split()]
        except ValueError:
            breaks = []
        if len(breaks) != 3 or not breaks[0] < breaks[1] < breaks[2]:
            raise QgsProcessingException(self.tr(
                "Seuils en °C : donnez trois valeurs croissantes (ex. « -2 0 2 »), "
                "reçu « {} ».").format(text))
        return HeatLossScheme.temperature(breaks)

    @staticmethod
    def _illustrative_field(source: Any) -> list[str]:
        """Read only the ``source`` field (illustrative data flag), when the layer has one."""
        return [f.name() for f in source.fields() if f.name().lower() == "source"][:1]

    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        from qpvgeo.raster import open_raster
        from qpvgeo.thermography import building_heat_loss

        raster_layer = self.parameterAsRasterLayer(parameters, self.RASTER, context)
        path = convert.raster_path(raster_layer, self.tr("Thermographie"))
        band = self.parameterAsInt(parameters, self.BAND, context) or 1
        scheme = self.scheme(parameters, context)
        source = self.parameterAsSource(parameters, self.BUILDINGS, context)
        label = self.tr("Bâtiments")
        flag_field = self._illustrative_field(source) if source is not None else []
        # a whole file layer is read in one Arrow batch (fastpath.py): only the flag field
        # when a GeoPackage goes to a GeoPackage written in SQL, every field when the features
        # go through the feature writer
        fast_src = fastpath.ogr_layer(self, parameters, self.BUILDINGS, context)
        fast_dest = fastpath.gpkg_destination(self, parameters, self.OUTPUT, context) \
            if fast_src is not None and fast_src.is_gpkg else None
        originals: dict | list = {}
        raw: dict | list = {}
        table = None
        if fast_src is not None:
            table = fastpath.read_table(fast_src, label, context,
                                        flag_field if fast_dest is not None else None)
            buildings = table.frame(flag_field)
        else:
            # only geometries go to the library; the input attributes are copied to the
            # output as they are, followed by the heat-loss fields
            buildings = convert.source_to_frame(source, label, feedback, fields=flag_field,
                                                keep_geometries=originals,
                                                keep_attributes=raw)
        feedback.setProgress(5)
        exact = self.parameterAsEnum(parameters, self.COVERAGE, context) == 0
        # QGIS's own GDAL reads the raster (no second GDAL in the process, see deps.py)
        with open_raster(path, band=band, backend="gdal") as src:
            result = building_heat_loss(
                src, buildings, scheme=scheme,
                interior_buffer_m=self.parameterAsDouble(parameters, self.INTERIOR_BUFFER,
                                                         context),
                min_valid_pixels=self.parameterAsDouble(parameters, self.MIN_VALID_PIXELS,
                                                        context),
                coverage="exact" if exact else "centre",
                progress=progress_callback(feedback, 0.05, 0.9))
        illustrative = bool((result.get("source") == "illustratif").any()) \
            if "source" in result.columns else False
        added = [c for c in result.columns
                 if c not in buildings.columns or c == "source"]
        attrs = result[[c for c in added if c != result.geometry.name]]
        title = self.tr("Déperditions thermiques par bâtiment")
        dest = None
        if fast_dest is not None:
            if fastpath.write_gpkg(fast_src, fast_dest, attrs, names.french_map(attrs.columns)):
                dest = fast_dest
                fastpath.load_on_completion(parameters, self.OUTPUT, context, dest, title)
            else:  # a new field clashes with an input field: feature writer, every field
                table = fastpath.read_table(fast_src, label, context)
        if dest is None and table is not None:
            originals, raw = table.features(source.fields(), attrs.index)
        if dest is None:
            dest = self.write_output(parameters, self.OUTPUT, context, feedback, attrs,
                                     geometries=originals, crs=source.sourceCrs(),
                                     wkb_type=convert.multi_type(source.wkbType()),
                                     base_fields=source.fields(), base_attributes=raw)
        qml = styling.buildings_qml(scheme, "libelle_deperdition")
        self.finish_layer(dest, context, title=title, illustrative=illustrative, qml=qml)
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
