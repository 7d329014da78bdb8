"""Logement social par quartier: ``qpvgeo.housing.social_housing``."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
)

from .. import params, styling
from ..base import QpvgeoAlgorithm, mark_illustrative
from ..feedback import progress_callback


class SocialHousing(QpvgeoAlgorithm):
    ALG_ID = "social_housing"
    GROUP_ID = "thematiques"

    RPLS = "RPLS"
    ID_FIELD = "ID_FIELD"
    ZONES = "ZONES"
    MAIN_RESIDENCES = "MAIN_RESIDENCES"
    POPULATION = "POPULATION"
    TERRITORY = "TERRITORY"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:
        return self.tr("Logement social par quartier")

    def shortHelpString(self) -> str:
        return self.tr(
            "Parc social par quartier à partir du RPLS (un point par logement) : nombre de "
            "logements sociaux, part parmi les résidences principales (si le champ est donné, "
            "par exemple P20_RP estimé par « Interpolation d'indicateurs IRIS → QPV »), "
            "densités par hectare et pour 1 000 habitants, part du parc du territoire, vacance "
            "quand le fichier a le mode d'occupation, et composition : époque de construction, "
            "financement (PLAI, PLUS, PLS, PLI, avant 1977), taille (T1…T5+), étiquette DPE.\n\n"
            "Les parts portent sur les valeurs connues ; les inconnues sont comptées à part "
            "(_nb_inconnu). Un dénominateur estimé est signalé (_estimation). Le fichier public "
            "n'a pas d'identifiant de logement : des lignes identiques sont des logements "
            "distincts.\n\nCalcul : qpvgeo.housing.social_housing.")

    def initAlgorithm(self, config: Any = None) -> None:
        params.add(self, QgsProcessingParameterFeatureSource(
            self.RPLS, self.tr("Logements sociaux RPLS (points)"),
            [QgsProcessing.SourceType.TypeVectorPoint]),
            "Un point par logement (fichier RPLS géolocalisé), n'importe quel SCR ; champs "
            "CONSTRUCT, FINAN, NBPIECE, DPEENERGIE (ou les noms normalisés de qpvgeo).")
        params.add(self, QgsProcessingParameterField(
            self.ID_FIELD, self.tr("Identifiant de logement [facultatif]"), None, self.RPLS,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Seulement si l'extrait a un identifiant : il doit être unique.", advanced=True)
        params.add_zones(self, self.ZONES)
        params.add(self, QgsProcessingParameterField(
            self.MAIN_RESIDENCES, self.tr("Résidences principales (champ des quartiers)"),
            None, self.ZONES, QgsProcessingParameterField.DataType.Numeric, optional=True),
            "Ex. P20_RP ; un champ <nom>_is_estimate ou est_estimation signale une "
            "estimation.")
        params.add(self, QgsProcessingParameterField(
            self.POPULATION, self.tr("Population (champ des quartiers)"), None, self.ZONES,
            QgsProcessingParameterField.DataType.Numeric, optional=True),
            "Ex. P20_POP, pour les logements sociaux pour 1 000 habitants.")
        params.add(self, QgsProcessingParameterFeatureSource(
            self.TERRITORY, self.tr("Territoire (EPCI) [facultatif]"),
            [QgsProcessing.SourceType.TypeVectorPolygon], optional=True),
            "Son parc est le dénominateur de part_rpls_du_territoire.")
        params.add(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Quartiers avec parc social"),
            QgsProcessing.SourceType.TypeVectorPolygon))

    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        """Read the layers, compute, write; progress and cancellation between the steps.

        ``social_housing`` takes no progress callback (one pass of point-in-polygon and
        counts): the bar moves between steps and a cancel request stops the run at the next
        step boundary (the layer readers and writer also check it feature by feature), before
        anything is written.
        """
        from qpvgeo.housing import social_housing

        step = progress_callback(feedback)
        step(0.0, self.tr("lecture des logements RPLS"))
        rpls = self.read_layer(parameters, self.RPLS, context, feedback, self.tr("RPLS"))
        step(0.3, self.tr("lecture des quartiers"))
        zones = self.read_zones(parameters, self.ZONES, context, feedback,
                                self.tr("Quartiers"))
        step(0.4, self.tr("lecture du territoire"))
        territory = self.read_layer(parameters, self.TERRITORY, context, feedback,
                                    self.tr("Territoire"), fields=[])
        rp = params.field_name(self, parameters, self.MAIN_RESIDENCES, context)
        pop = params.field_name(self, parameters, self.POPULATION, context)
        step(0.45, self.tr("parc social par quartier"))
        result = social_housing(
            rpls, zones.frame, main_residences=rp, population=pop, territory=territory,
            id_col=params.field_name(self, parameters, self.ID_FIELD, context),
            name=self.tr("RPLS"))
        step(0.9, self.tr("écriture de la couche"))
        illustrative = mark_illustrative(result, rpls, zones.frame)
        dest, table = self.write_zones(parameters, self.OUTPUT, context, feedback, zones,
                                       result)
        field = "part_rpls_parmi_rp" if rp else "rpls_par_ha"
        shown = table.rename(columns={"rpls_share_of_rp": "part_rpls_parmi_rp",
                                      "rpls_per_ha": "rpls_par_ha"})
        self.finish_layer(dest, context, illustrative=illustrative,
                          qml=styling.zones_qml(shown, field),
                          title=self.tr("Logement social par quartier"))
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
