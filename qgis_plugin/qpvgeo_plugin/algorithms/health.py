"""Couverture des équipements de santé: ``qpvgeo.health.health_access``."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
)

from .. import params, styling
from ..base import QpvgeoAlgorithm, mark_illustrative
from ..feedback import progress_callback

# health kinds offered in the dialog (ids of qpvgeo.health.KIND_LABELS), in this order
HEALTH_KINDS = (
    "medecin_generaliste", "specialiste", "chirurgien_dentiste", "infirmier", "sage_femme",
    "masseur_kinesitherapeute", "pharmacie", "laboratoire", "etablissement_sante", "urgences",
    "maternite", "centre_sante", "maison_sante",
)
DEFAULT_KINDS = ("medecin_generaliste", "chirurgien_dentiste", "infirmier", "pharmacie",
                 "specialiste", "etablissement_sante")
LABELS = {
    "medecin_generaliste": "Médecins généralistes", "specialiste": "Médecins spécialistes",
    "chirurgien_dentiste": "Chirurgiens-dentistes", "infirmier": "Infirmiers",
    "sage_femme": "Sages-femmes", "masseur_kinesitherapeute": "Masseurs-kinésithérapeutes",
    "pharmacie": "Pharmacies", "laboratoire": "Laboratoires d'analyses médicales",
    "etablissement_sante": "Établissements de santé", "urgences": "Urgences",
    "maternite": "Maternités", "centre_sante": "Centres de santé",
    "maison_sante": "Maisons de santé pluridisciplinaires",
}


class HealthAccess(QpvgeoAlgorithm):
    ALG_ID = "health_access"
    GROUP_ID = "thematiques"

    BPE = "BPE"
    CODE_FIELD = "CODE_FIELD"
    VINTAGE = "VINTAGE"
    KINDS = "KINDS"
    ZONES = "ZONES"
    POPULATION = "POPULATION"
    RESIDENCES = "RESIDENCES"
    RESIDENCE_WEIGHT = "RESIDENCE_WEIGHT"
    STREETS = "STREETS"
    WALK_DISTANCE = "WALK_DISTANCE"
    TERRITORY = "TERRITORY"
    TERRITORY_POPULATION = "TERRITORY_POPULATION"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:
        return self.tr("Couverture des équipements de santé")

    def shortHelpString(self) -> str:
        return self.tr(
            "Équipements de santé de la BPE par quartier : nombre dans le quartier "
            "(_nb_dans_zone), à distance de marche (_nb_a_portee), pour 10 000 habitants, part "
            "de la population à distance de marche d'au moins un équipement "
            "(_part_pop_couverte) et distance médiane au plus proche.\n\n"
            "Distance de marche : 1 125 m par défaut (15 minutes à 4,5 km/h), le long des rues "
            "si une couche de tronçons est donnée, à vol d'oiseau sinon (methode_portee le "
            "dit). La population est répartie sur les bâtiments résidentiels (ou une grille) "
            "pour la couverture.\n\n"
            "Les codes TYPEQU changent selon les millésimes de la BPE : indiquez le millésime. "
            "Calcul : qpvgeo.health.health_access.")

    def initAlgorithm(self, config: Any = None) -> None:
        params.add(self, QgsProcessingParameterFeatureSource(
            self.BPE, self.tr("Équipements BPE (points)"),
            [QgsProcessing.SourceType.TypeVectorPoint]),
            "Base permanente des équipements géolocalisée, n'importe quel SCR.")
        params.add(self, QgsProcessingParameterField(
            self.CODE_FIELD, self.tr("Champ du code d'équipement (TYPEQU)"), None, self.BPE,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Vide : typequ ou TYPEQU.", advanced=True)
        params.add(self, QgsProcessingParameterNumber(
            self.VINTAGE, self.tr("Millésime de la BPE"),
            QgsProcessingParameterNumber.Type.Integer, 2023, False, 2012, 2100),
            "Choisit la nomenclature TYPEQU (ex. médecin généraliste D201 en 2023, D265 en "
            "2025).")
        params.add(self, QgsProcessingParameterEnum(
            self.KINDS, self.tr("Équipements"), [self.tr(LABELS[k]) for k in HEALTH_KINDS],
            allowMultiple=True,
            defaultValue=[HEALTH_KINDS.index(k) for k in DEFAULT_KINDS]))
        params.add_zones(self, self.ZONES)
        params.add(self, QgsProcessingParameterField(
            self.POPULATION, self.tr("Population (champ des quartiers)"), None, self.ZONES,
            QgsProcessingParameterField.DataType.Numeric, optional=True),
            "Ex. P20_POP estimé par « Interpolation d'indicateurs IRIS → QPV ».")
        params.add(self, QgsProcessingParameterNumber(
            self.WALK_DISTANCE, self.tr("Distance de marche (m)"),
            QgsProcessingParameterNumber.Type.Double, 1125.0, False, 1.0, 50000.0),
            "Portée à pied en mètres (1 125 m = 15 min à 4,5 km/h).")
        params.add(self, QgsProcessingParameterFeatureSource(
            self.STREETS, self.tr("Tronçons de rue pour la marche [facultatif]"),
            [QgsProcessing.SourceType.TypeVectorLine], optional=True),
            "BD TOPO TRONCON_DE_ROUTE ou OSM : distance par le réseau plutôt qu'à vol "
            "d'oiseau.")
        params.add(self, QgsProcessingParameterFeatureSource(
            self.RESIDENCES, self.tr("Bâtiments ou logements (où vit la population) "
                                     "[facultatif]"),
            [QgsProcessing.SourceType.TypeVectorPolygon,
             QgsProcessing.SourceType.TypeVectorPoint], optional=True),
            "Pour la part de population couverte ; sans couche, grille régulière.",
            advanced=True)
        params.add(self, QgsProcessingParameterField(
            self.RESIDENCE_WEIGHT, self.tr("Poids des bâtiments (ex. nb_logts)"), None,
            self.RESIDENCES, QgsProcessingParameterField.DataType.Numeric, optional=True),
            "Vide : nb_logts s'il existe, sinon surface au sol.", advanced=True)
        params.add(self, QgsProcessingParameterFeatureSource(
            self.TERRITORY, self.tr("Territoire de comparaison [facultatif]"),
            [QgsProcessing.SourceType.TypeVectorPolygon], optional=True),
            "Ex. l'EPCI, pour l'indice par rapport au territoire.", advanced=True)
        params.add(self, QgsProcessingParameterNumber(
            self.TERRITORY_POPULATION, self.tr("Population du territoire"),
            QgsProcessingParameterNumber.Type.Double, None, True, 0.0), advanced=True)
        params.add(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Quartiers avec accès aux équipements de santé"),
            QgsProcessing.SourceType.TypeVectorPolygon))

    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        from qpvgeo.health import health_access

        bpe = self.read_layer(parameters, self.BPE, context, feedback, self.tr("BPE"))
        code_col = params.field_name(self, parameters, self.CODE_FIELD, context)
        if not code_col:
            lower = {c.lower(): c for c in bpe.columns}
            code_col = lower.get("typequ")
            if code_col is None:
                raise QgsProcessingException(self.tr(
                    "BPE : pas de champ TYPEQU ; choisissez le champ du code d'équipement."))
        zones = self.read_zones(parameters, self.ZONES, context, feedback,
                                self.tr("Quartiers"))
        kinds = [HEALTH_KINDS[i] for i in self.parameterAsEnums(parameters, self.KINDS,
                                                               context)]
        if not kinds:
            raise QgsProcessingException(self.tr("Choisissez au moins un équipement."))
        weight = params.field_name(self, parameters, self.RESIDENCE_WEIGHT, context)
        residences = self.read_layer(parameters, self.RESIDENCES, context, feedback,
                                     self.tr("Bâtiments"))
        streets = self.read_layer(parameters, self.STREETS, context, feedback,
                                  self.tr("Tronçons de rue"), fields=[])
        territory = self.read_layer(parameters, self.TERRITORY, context, feedback,
                                    self.tr("Territoire"), fields=[])
        terr_pop = None
        if parameters.get(self.TERRITORY_POPULATION) not in (None, ""):
            terr_pop = self.parameterAsDouble(parameters, self.TERRITORY_POPULATION, context)
        feedback.setProgress(10)
        result = health_access(
            bpe, zones.frame, vintage=self.parameterAsInt(parameters, self.VINTAGE, context),
            kinds=kinds, code_col=code_col,
            population=params.field_name(self, parameters, self.POPULATION, context),
            residences=residences,
            residence_weight=weight or ("nb_logts" if residences is not None and
                                        "nb_logts" in residences.columns else None),
            graph=streets, reach_m=self.parameterAsDouble(parameters, self.WALK_DISTANCE,
                                                          context),
            territory=territory, territory_population=terr_pop, name=self.tr("BPE"),
            progress=progress_callback(feedback, 0.1, 0.9))
        illustrative = mark_illustrative(result, bpe, zones.frame, residences)
        dest, table = self.write_zones(parameters, self.OUTPUT, context, feedback, zones,
                                       result)
        first = f"{kinds[0]}_covered_share"
        shown = table.rename(columns={first: f"{kinds[0]}_part_pop_couverte"})
        self.finish_layer(dest, context, illustrative=illustrative,
                          qml=styling.zones_qml(shown, f"{kinds[0]}_part_pop_couverte"),
                          title=self.tr("Couverture des équipements de santé"))
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
