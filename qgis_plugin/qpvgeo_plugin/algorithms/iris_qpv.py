"""Correspondance IRIS ↔ QPV: ``qpvgeo.overlay.iris_qpv_overlap`` as a Processing algorithm."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
)

from .. import convert, params
from ..base import QpvgeoAlgorithm, mark_illustrative
from ..feedback import progress_callback


class IrisQpvOverlap(QpvgeoAlgorithm):
    ALG_ID = "iris_qpv_overlap"
    GROUP_ID = "territoire"

    IRIS = "IRIS"
    IRIS_KEY = "IRIS_KEY"
    QPV = "QPV"
    QPV_KEY = "QPV_KEY"
    WEIGHTS = "WEIGHTS"
    WEIGHT_FIELD = "WEIGHT_FIELD"
    MIN_SHARE = "MIN_SHARE"
    OUTPUT = "OUTPUT"
    OUTPUT_TABLE = "OUTPUT_TABLE"

    def displayName(self) -> str:
        return self.tr("Correspondance IRIS ↔ QPV")

    def shortHelpString(self) -> str:
        return self.tr(
            "Mesure le recouvrement des IRIS et des quartiers prioritaires (QPV) : une ligne par "
            "couple (IRIS, QPV) qui se recoupent, avec la surface de l'intersection (m², en "
            "Lambert-93) et sa part de l'IRIS et du QPV (0–1). Avec une couche de poids "
            "(bâtiments ou logements), les mêmes parts sont aussi mesurées en poids (méthode "
            "dasymétrique) ; un IRIS sans poids retombe sur les parts de surface "
            "(repli_surface_*).\n\n"
            "Les recoupements de moins de 1 % des deux zones (bruit de numérisation entre les "
            "couches IGN et ANCT) sont écartés ; mettez le seuil à 0 pour tout garder.\n\n"
            "Calcul : qpvgeo.overlay.iris_qpv_overlap. Les couches peuvent être dans n'importe "
            "quel SCR ; les sorties sont en Lambert-93 (EPSG:2154).")

    def initAlgorithm(self, config: Any = None) -> None:
        poly = [QgsProcessing.SourceType.TypeVectorPolygon]
        params.add(self, QgsProcessingParameterFeatureSource(
            self.IRIS, self.tr("Contours IRIS"), poly),
            "Polygones IRIS (IGN CONTOURS-IRIS), n'importe quel SCR.")
        params.add(self, QgsProcessingParameterField(
            self.IRIS_KEY, self.tr("Champ du code IRIS"), None, self.IRIS,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Code IRIS à 9 caractères, en texte (ex. 624980101). Vide : code_iris, "
            "CODE_IRIS ou DCOMIRIS.")
        params.add(self, QgsProcessingParameterFeatureSource(
            self.QPV, self.tr("Quartiers prioritaires (QPV)"), poly),
            "Périmètres des QPV (ANCT), n'importe quel SCR.")
        params.add(self, QgsProcessingParameterField(
            self.QPV_KEY, self.tr("Champ du code QPV"), None, self.QPV,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Code QPV en texte (QN06224M en 2024, QP062019 en 2015). Vide : code_qpv ou "
            "code_qp.")
        params.add_weights(
            self, self.WEIGHTS, self.WEIGHT_FIELD,
            "Bâtiments (BD TOPO) ou logements (RPLS) pour des parts dasymétriques.",
            "Ex. nb_logts. Sans champ : surface au sol (bâtiments) ou 1 par point.")
        params.add_min_share(self, self.MIN_SHARE, "Un couple est écarté quand l'intersection "
                             "est sous ce seuil de l'IRIS ET du QPV (défaut 0,01 = 1 %).")
        params.add(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Intersections IRIS × QPV"),
            QgsProcessing.SourceType.TypeVectorPolygon))
        params.add(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT_TABLE, self.tr("Table de correspondance IRIS ↔ QPV"),
            QgsProcessing.SourceType.TypeVector, optional=True, createByDefault=False))

    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        import pandas as pd

        from qpvgeo.overlay import iris_qpv_overlap

        iris = convert.source_to_frame(
            self.parameterAsSource(parameters, self.IRIS, context), self.tr("Contours IRIS"),
            feedback)
        qpv = convert.source_to_frame(
            self.parameterAsSource(parameters, self.QPV, context), self.tr("QPV"), feedback)
        iris_key = params.key_field(self, parameters, self.IRIS_KEY, context, iris, "iris",
                                    self.tr("Contours IRIS"))
        qpv_key = params.key_field(self, parameters, self.QPV_KEY, context, qpv, "qpv",
                                   self.tr("QPV"))
        iris = params.text_key(iris, iris_key, self.tr("Contours IRIS"), "iris")
        qpv = params.text_key(qpv, qpv_key, self.tr("QPV"), "qpv")
        weights, weight_field = self.read_weights(parameters, self.WEIGHTS, self.WEIGHT_FIELD,
                                                  context, feedback)
        feedback.setProgress(10)
        table = iris_qpv_overlap(
            iris, qpv, weights=weights, weight_col=weight_field,
            min_share=self.parameterAsDouble(parameters, self.MIN_SHARE, context),
            iris_key=iris_key, qpv_key=qpv_key, keep_geometry=True,
            progress=progress_callback(feedback, 0.1, 0.9))
        illustrative = mark_illustrative(table, iris, qpv, weights)
        keep = (iris_key, qpv_key)
        dest = self.write_output(parameters, self.OUTPUT, context, feedback, table, keep=keep)
        results = {self.OUTPUT: dest}
        self.finish_layer(dest, context, title=self.tr("Intersections IRIS × QPV"),
                          illustrative=illustrative)
        plain = table.drop(columns="geometry")
        dest_table = self.write_output(parameters, self.OUTPUT_TABLE, context, feedback,
                                       pd.DataFrame(plain), keep=keep)
        if dest_table is not None:
            results[self.OUTPUT_TABLE] = dest_table
            self.finish_layer(dest_table, context, illustrative=illustrative,
                              title=self.tr("Correspondance IRIS ↔ QPV"))
        feedback.setProgress(100)
        return results
