"""Interpolation d'indicateurs IRIS → QPV: ``qpvgeo.interpolation.interpolate``."""

from __future__ import annotations

from typing import Any

from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterMatrix,
)

from .. import convert, params, styling
from ..base import QpvgeoAlgorithm, mark_illustrative
from ..feedback import progress_callback


def numeric_columns(frame: Any, columns: list[str], label: str) -> Any:
    """Columns as floats; text columns parsed like INSEE files (s, nd, blank -> missing)."""
    import pandas as pd

    from qpvgeo._io_tables import parse_numbers

    out = frame.copy()
    for col in columns:
        if pd.api.types.is_numeric_dtype(out[col]) and not pd.api.types.is_bool_dtype(out[col]):
            out[col] = out[col].astype(float)
            continue
        values, _missing, unexpected = parse_numbers(out[col], name=label, column=col)
        if unexpected:
            raise QgsProcessingException(params.tr(
                "Table « {} » : le champ « {} » contient du texte qui n'est pas un nombre "
                "(ex. {}) ; seuls les marqueurs du secret (s, nd, ns, vide) sont lus comme "
                "manquants.").format(label, col, ", ".join(map(repr, unexpected))))
        out[col] = values
    return out


class InterpolateIrisQpv(QpvgeoAlgorithm):
    ALG_ID = "interpolate_iris_qpv"
    GROUP_ID = "territoire"

    SOURCE = "SOURCE"
    SOURCE_KEY = "SOURCE_KEY"
    TABLE = "TABLE"
    TABLE_KEY = "TABLE_KEY"
    COUNTS = "COUNTS"
    RATIOS = "RATIOS"
    MEDIANS = "MEDIANS"
    TARGET = "TARGET"
    TARGET_KEY = "TARGET_KEY"
    WEIGHTS = "WEIGHTS"
    WEIGHT_FIELD = "WEIGHT_FIELD"
    MIN_SHARE = "MIN_SHARE"
    ALLOCATE_TOTAL = "ALLOCATE_TOTAL"
    OUTPUT = "OUTPUT"

    def displayName(self) -> str:
        return self.tr("Interpolation d'indicateurs IRIS → QPV")

    def shortHelpString(self) -> str:
        return self.tr(
            "Estime des indicateurs par QPV à partir des indicateurs INSEE par IRIS (un QPV "
            "découpe les IRIS).\n\n"
            "Effectifs (population, logements, chômeurs…) : chaque IRIS donne au QPV la part "
            "de son effectif située dans le QPV, en surface ou, avec une couche de poids "
            "(bâtiments, logements), en poids (méthode dasymétrique).\n"
            "Taux : donnés par numérateur et dénominateur, interpolés comme des effectifs puis "
            "divisés — jamais une moyenne de taux.\n"
            "Médianes (Filosofi) : non interpolables ; la sortie donne l'intervalle "
            "(_min, _max) des IRIS concernés et la part connue.\n"
            "Une cellule secrète ou manquante rend la valeur du QPV manquante (jamais 0), avec "
            "la raison. part_estimee dit quelle part du QPV vient d'IRIS coupés ; est_estimation "
            "signale une estimation.\n\n"
            "La table peut être la couche IRIS elle-même ou une table INSEE chargée dans QGIS "
            "(les marqueurs s, nd, ns sont lus comme manquants). Calcul : "
            "qpvgeo.interpolation.interpolate.")

    def initAlgorithm(self, config: Any = None) -> None:
        poly = [QgsProcessing.SourceType.TypeVectorPolygon]
        params.add(self, QgsProcessingParameterFeatureSource(
            self.SOURCE, self.tr("Contours IRIS"), poly),
            "Polygones IRIS, n'importe quel SCR.")
        params.add(self, QgsProcessingParameterField(
            self.SOURCE_KEY, self.tr("Champ du code IRIS (contours)"), None, self.SOURCE,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Vide : code_iris, CODE_IRIS ou DCOMIRIS.")
        params.add(self, QgsProcessingParameterFeatureSource(
            self.TABLE, self.tr("Table des indicateurs par IRIS"),
            [QgsProcessing.SourceType.TypeVector]),
            "Table INSEE (base-ic, Filosofi) chargée dans QGIS, ou la couche IRIS si elle "
            "porte les variables.")
        params.add(self, QgsProcessingParameterField(
            self.TABLE_KEY, self.tr("Champ du code IRIS (table)"), None, self.TABLE,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Vide : IRIS, code_iris ou DCOMIRIS. Le code doit être du texte à 9 caractères.")
        params.add(self, QgsProcessingParameterField(
            self.COUNTS, self.tr("Effectifs à répartir"), None, self.TABLE,
            QgsProcessingParameterField.DataType.Any, allowMultiple=True, optional=True),
            "Ex. P20_POP, P20_LOG, P20_RP.")
        params.add(self, QgsProcessingParameterMatrix(
            self.RATIOS, self.tr("Taux (nom, numérateur, dénominateur)"), 0, False,
            [self.tr("Nom du taux"), self.tr("Numérateur"), self.tr("Dénominateur")],
            None, optional=True),
            "Ex. taux_chomage, P20_CHOM1564, P20_ACT1564 : numérateur et dénominateur sont "
            "interpolés puis divisés.")
        params.add(self, QgsProcessingParameterField(
            self.MEDIANS, self.tr("Médianes et taux sans numérateur (non interpolés)"), None,
            self.TABLE, QgsProcessingParameterField.DataType.Any, allowMultiple=True,
            optional=True),
            "Ex. DISP_MED20, DISP_TP6020 : intervalle des IRIS concernés.")
        params.add(self, QgsProcessingParameterFeatureSource(
            self.TARGET, self.tr("Quartiers prioritaires (QPV)"), poly),
            "Zones cibles, n'importe quel SCR ; leurs champs sont recopiés dans la sortie.")
        params.add(self, QgsProcessingParameterField(
            self.TARGET_KEY, self.tr("Champ du code QPV"), None, self.TARGET,
            QgsProcessingParameterField.DataType.Any, optional=True),
            "Vide : code_qpv ou code_qp.")
        params.add_weights(
            self, self.WEIGHTS, self.WEIGHT_FIELD,
            "Pour une répartition dasymétrique (les habitants vivent dans les logements).",
            "Ex. nb_logts. Sans champ : surface au sol ou 1 par point.")
        params.add_min_share(self, self.MIN_SHARE, "Couples IRIS × QPV sous ce seuil des deux "
                             "zones écartés (défaut 1 %).")
        params.add(self, QgsProcessingParameterBoolean(
            self.ALLOCATE_TOTAL, self.tr("Répartir tout l'effectif de chaque IRIS entre les "
                                         "QPV qu'il recoupe"), False),
            "Non (défaut) : la part d'un IRIS hors de tout QPV n'est pas répartie.",
            advanced=True)
        params.add(self, QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("QPV avec indicateurs estimés"),
            QgsProcessing.SourceType.TypeVectorPolygon))

    def compute(self, parameters: dict, context: Any, feedback: Any) -> dict:
        from qpvgeo.interpolation import interpolate

        counts = self.parameterAsFields(parameters, self.COUNTS, context)
        medians = self.parameterAsFields(parameters, self.MEDIANS, context)
        ratios = {}
        for row in params.matrix_rows(self.parameterAsMatrix(parameters, self.RATIOS, context),
                                      3):
            if len(row) != 3 or not all(row):
                raise QgsProcessingException(self.tr(
                    "Taux : chaque ligne demande un nom, un numérateur et un dénominateur "
                    "(reçu : {}).").format(", ".join(row)))
            ratios[row[0]] = (row[1], row[2])
        if not counts and not ratios and not medians:
            raise QgsProcessingException(self.tr(
                "Rien à interpoler : choisissez des effectifs, des taux ou des médianes."))
        variables = list(dict.fromkeys(
            [*counts, *(c for spec in ratios.values() for c in spec), *medians]))

        iris = convert.source_to_frame(
            self.parameterAsSource(parameters, self.SOURCE, context), self.tr("Contours IRIS"),
            feedback, fields=None)
        iris_key = params.key_field(self, parameters, self.SOURCE_KEY, context, iris, "iris",
                                    self.tr("Contours IRIS"))
        iris = params.text_key(iris, iris_key, self.tr("Contours IRIS"), "iris")
        iris = iris[[iris_key, *[c for c in ("source",) if c in iris.columns],
                     iris.geometry.name]]
        table_label = self.tr("Table des indicateurs")
        table_source = self.parameterAsSource(parameters, self.TABLE, context)
        table_all = convert.source_to_frame(table_source, table_label, feedback, geometry=False,
                                            fields=None)
        table_key = params.field_name(self, parameters, self.TABLE_KEY, context)
        if not table_key:
            lower = {c.lower(): c for c in table_all.columns}
            table_key = next((lower[c] for c in ("iris", "code_iris", "dcomiris")
                              if c in lower), None)
            if table_key is None:
                raise QgsProcessingException(self.tr(
                    "Table des indicateurs : aucun champ de code IRIS (IRIS, code_iris, "
                    "DCOMIRIS) ; choisissez-le dans la boîte de dialogue."))
        table_all = params.text_key(table_all, table_key, table_label, "iris")
        missing = [v for v in variables if v not in table_all.columns]
        if missing:
            raise QgsProcessingException(self.tr(
                "Table des indicateurs : champ(s) absent(s) : {}.").format(", ".join(missing)))
        keep = [c for c in ("source",) if c in table_all.columns and c not in variables]
        values = numeric_columns(table_all[[table_key, *variables, *keep]], variables,
                                 table_label)
        values = values.rename(columns={table_key: iris_key})
        if iris_key != table_key and table_key in variables:
            raise QgsProcessingException(self.tr("Le code IRIS ne peut pas être une variable."))

        zones = self.read_zones(parameters, self.TARGET, context, feedback, self.tr("QPV"))
        qpv_key = params.key_field(self, parameters, self.TARGET_KEY, context, zones.frame,
                                   "qpv", self.tr("QPV"))
        zones.frame = qpv = params.text_key(zones.frame, qpv_key, self.tr("QPV"), "qpv")
        weights, weight_field = self.read_weights(parameters, self.WEIGHTS, self.WEIGHT_FIELD,
                                                  context, feedback)
        feedback.setProgress(10)
        result = interpolate(
            iris, qpv[[qpv_key, qpv.geometry.name]], extensive=counts, ratios=ratios,
            intensive=medians, values=values, weights=weights, weight_col=weight_field,
            source_key=iris_key, target_key=qpv_key,
            min_share=self.parameterAsDouble(parameters, self.MIN_SHARE, context),
            allocate_total=self.parameterAsBoolean(parameters, self.ALLOCATE_TOTAL, context),
            progress=progress_callback(feedback, 0.1, 0.9))
        illustrative = mark_illustrative(result, iris, values, qpv, weights)
        dest, table = self.write_zones(parameters, self.OUTPUT, context, feedback, zones,
                                       result, keep=(qpv_key, *variables, *ratios))
        shown = next(iter(ratios), None) or next(iter(counts), None)
        qml = styling.zones_qml(table, shown) if shown else styling.outline_qml()
        self.finish_layer(dest, context, illustrative=illustrative, qml=qml,
                          title=self.tr("Indicateurs estimés par QPV"))
        feedback.setProgress(100)
        return {self.OUTPUT: dest}
