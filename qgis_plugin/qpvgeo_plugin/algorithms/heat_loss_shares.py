"""Parts de déperditions fortes par quartier: ``qpvgeo.thermography.heat_loss_shares``."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterString,
)

from .. import convert, params, styling
from ..base import QpvgeoAlgorithm, mark_illustrative
from ..feedback import progress_callback

# spellings of the class / label fields: plugin output (French) first, then the library's
CLASS_FIELDS = ("classe_deperdition", "heatloss_class")
LABEL_FIELDS = ("libelle_deperdition", "heatloss_label")


class HeatLossShares(QpvgeoAlgorithm):
    ALG_ID = "heat_loss_shares"
    GROUP_ID = "thermographie"

    BUILDINGS = "BUILDINGS"
    CLASS_FIELD = "CLASS_FIELD"
    LABEL_FIELD = "LABEL_FIELD"
    ZONES = "ZONES"
    STRONG = "STRONG"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:
        return self.tr("Parts de déperditions fortes par quartier")

    def shortHelpString(self) -> str:
        return self.tr(
            "Par quartier (QPV, IRIS, commune…) : nombre de bâtiments, part des bâtiments "
            "classés en déperditions fortes ou excessives (0–1) et part de la surface de toit "
            "correspondante, à partir de la sortie de « Déperditions thermiques par "
            "bâtiment ».\n\n"
            "Chaque bâtiment compte une seule fois, dans la zone qui contient la plus grande "
            "part de son emprise. Les parts portent sur les bâtiments classés : les « non "
            "classés » et « non mesurés » sont comptés à part, jamais comme 0 ; une zone sans "
            "bâtiment classé a des parts vides et une raison (raison_manque).\n\n"
            "Calcul : qpvgeo.thermography.heat_loss_shares. Sortie : les zones avec leurs "
            "champs et les indicateurs, stylées par part_deperditions_fortes.")

    def initAlgorithm(self, config: Any = None) -> None:
        poly = [QgsProcessing.SourceType.TypeVectorPolygon]
        params.add(self, QgsProcessingParameterFeatureSource(
            self.BUILDINGS, self.tr("Bâtiments classés"), poly),
            "Sortie de « Déperditions thermiques par bâtiment » (ou toute couche avec la "
            "classe et le libellé de déperdition).")
        params.add(self, QgsProcessingParameterField(
            self.CLASS_FIELD, self.tr("Champ de la classe"), None, self.BUILDINGS,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Vide : classe_deperdition (ou heatloss_class).", advanced=True)
        params.add(self, QgsProcessingParameterField(
            self.LABEL_FIELD, self.tr("Champ du libellé"), None, self.BUILDINGS,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Vide : libelle_deperdition (ou heatloss_label).", advanced=True)
        params.add_zones(self, self.ZONES)
        params.add(self, QgsProcessingParameterString(
            self.STRONG, self.tr("Classes comptées comme fortes"), "fortes;excessives"),
            "Libellés (ou valeurs) séparés par des points-virgules.", advanced=True)
        params.add(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Quartiers avec parts de déperditions fortes"),
            QgsProcessing.SourceType.TypeVectorPolygon))

    def _field(self, parameters: dict, name: str, context: Any, frame: Any,
               candidates: tuple[str, ...], what: str) -> str:
        chosen = params.field_name(self, parameters, name, context)
        if chosen:
            return chosen
        for cand in candidates:
            if cand in frame.columns:
                return cand
        raise QgsProcessingException(self.tr(
            "Bâtiments classés : pas de champ {} ({}) ; lancez d'abord « Déperditions "
            "thermiques par bâtiment » ou choisissez le champ.").format(
            what, " ou ".join(candidates)))

    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        from qpvgeo.thermography import heat_loss_shares

        buildings = convert.source_to_frame(
            self.parameterAsSource(parameters, self.BUILDINGS, context),
            self.tr("Bâtiments classés"), feedback)
        class_col = self._field(parameters, self.CLASS_FIELD, context, buildings,
                                CLASS_FIELDS, self.tr("de classe"))
        label_col = self._field(parameters, self.LABEL_FIELD, context, buildings,
                                LABEL_FIELDS, self.tr("de libellé"))
        keep = [c for c in ("source",) if c in buildings.columns]
        buildings = buildings[[class_col, label_col, *keep, buildings.geometry.name]].rename(
            columns={class_col: "heatloss_class", label_col: "heatloss_label"})
        zones = self.read_zones(parameters, self.ZONES, context, feedback,
                                self.tr("Quartiers"))
        strong_text = self.parameterAsString(parameters, self.STRONG, context) or ""
        strong: list[Any] = []
        for item in (v.strip() for v in strong_text.split(";")):
            if item:
                strong.append(int(item) if item.isdigit() else item)
        feedback.setProgress(10)
        result = heat_loss_shares(buildings, zones.frame, strong=strong or None,
                                  progress=progress_callback(feedback, 0.1, 0.9))
        illustrative = mark_illustrative(result, buildings, zones.frame)
        dest, table = self.write_zones(parameters, self.OUTPUT, context, feedback, zones,
                                       result)
        shares = table.rename(columns={"heatloss_strong_share": "part_deperditions_fortes"})
        qml = styling.zones_qml(shares, "part_deperditions_fortes")
        self.finish_layer(dest, context, illustrative=illustrative, qml=qml,
                          title=self.tr("Parts de déperditions fortes par quartier"))
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
