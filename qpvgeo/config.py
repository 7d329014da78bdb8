"""Configuration of the portrait de territoire (TOML file).

A territory is described by one TOML file (``qpvgeo init-config`` writes a commented example)::

    [territoire]
    nom = "CA de Lens-Liévin"
    siren_epci = "246200364"

    [fichiers]              # paths relative to the configuration file
    qpv = "shapes/qpv2024.gpkg"
    iris = "shapes/contours_iris.gpkg"
    ...

    [millesimes]
    recensement = "2020"

    [options]
    indicateur_carte = "poverty_rate"

Only ``fichiers.qpv`` is required; every other layer is optional and the portrait skips the
sections it feeds, with a note in the report and in the command summary. Relative paths are
resolved from the folder of the configuration file (not from the current directory), so a
territory folder can be moved or shared as a whole. Unknown keys are an error (a typo such as
``batiment`` instead of ``batiments`` would otherwise silently drop a layer).

Without a configuration file the portrait runs on the embedded demo territory
(:func:`demo_config`), built from :mod:`qpvgeo.datasets`.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from qpvgeo.errors import InputFileError, SchemaError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "CONFIG_TEMPLATE",
    "FILE_KEYS",
    "OPTION_DEFAULTS",
    "VINTAGE_DEFAULTS",
    "PortraitConfig",
    "demo_config",
    "load_config",
    "write_config_template",
]

FILE_KEYS: dict[str, str] = {
    "qpv": "QPV (périmètres 2024)",
    "qpv_2015": "QPV 2015 (périmètres du précédent contrat de ville)",
    "iris": "Contours IRIS",
    "communes": "Communes",
    "epci": "EPCI",
    "batiments": "Bâtiments (BD TOPO)",
    "thermographie": "Thermographie aérienne (raster)",
    "qualite_logement": "Qualité du logement (couche PLH)",
    "rpls": "Logements sociaux (RPLS)",
    "bpe": "Équipements (BPE)",
    "colleges": "Collèges (IPS et éducation prioritaire REP / REP+)",
    "voirie": "Voirie piétonne (lignes des rues, pour les distances à pied)",
    "sirene_t0": "Établissements SIRENE, première date",
    "sirene_t1": "Établissements SIRENE, seconde date",
    "insee_iris": "Indicateurs INSEE par IRIS (recensement, Filosofi)",
    "insee_iris_t0": "Indicateurs INSEE par IRIS, millésime précédent",
    "insee_commune": "Indicateurs INSEE par commune (Filosofi des communes)",
    "insee_epci": "Indicateurs INSEE de l'EPCI (Filosofi : médiane et taux de pauvreté du "
                  "territoire)",
    "insee_qpv": "Indicateurs officiels par QPV (INSEE / ONPV)",
    "insee_qpv_t0": "Indicateurs officiels par QPV, millésime précédent (périmètres 2015)",
    "correspondance_qpv": "Liste de correspondance QPV 2024 / QPV 2015 (ANCT)",
    "reference": "Table de référence (département, région, France)",
}
"""Layers and tables a configuration may name, with their French label (report notes)."""

MULTI_FILE_KEYS: frozenset[str] = frozenset({"insee_iris", "insee_iris_t0", "insee_qpv",
                                             "insee_qpv_t0", "insee_commune", "insee_epci"})
"""Tables that may be given as a list of files (one per INSEE base: population, activité,
diplômes, logement, familles, Filosofi…, or one per vintage for the commune and EPCI
Filosofi files: their variables are named by year, ``MED20``, ``MED15``); the files are joined
on their code column."""

VINTAGE_DEFAULTS: dict[str, str] = {
    "qpv": "2024",
    "recensement": "2020",
    "recensement_t0": "2015",
    "filosofi": "2020",
    "filosofi_t0": "2015",
    "rpls": "2023",
    "bpe": "2023",
    "colleges": "2022",
    "sirene_t0": "2017",
    "sirene_t1": "2023",
    "batiments": "2024",
    "thermographie": "non renseigné",
}
"""Vintage of each source, printed beside every table (``[millesimes]``)."""

OPTION_DEFAULTS: dict[str, Any] = {
    "indicateur_carte": "heatloss_strong_share",
    "schema_deperditions": "classes",
    "marche_minutes": 15.0,
    "vitesse_marche_kmh": 4.5,
    "npnru": [],
    "champ_npnru": "",
    "detail_batiments_m": 300.0,
    "carreau_batiments_m": 250.0,
    "seuil_iris_concerne": 0.0,
    "classes_carte": 5,
}
"""Options (``[options]``): map indicator, heat-loss scheme, walking time (minutes) and speed
(km/h), NPNRU QPV codes, name of a field of the QPV layer flagging the NPNRU QPV (1/oui/true;
added to the codes), buffer (m) around QPV where buildings are drawn one by one, grid cell
size (m) used to aggregate buildings elsewhere, minimum share (0–1) of an IRIS lying in QPV for
it to be "concerné par un QPV" (besides the sliver rule of qpvgeo.overlay.concerned_iris),
number of map classes."""

_SECTIONS = {"territoire", "fichiers", "millesimes", "options"}


@dataclass(frozen=True)
class PortraitConfig:
    """A territory's portrait configuration (paths resolved, defaults filled).

    Attributes
    ----------
    name
        Territory name shown in the report and map (French).
    siren_epci
        SIREN code of the EPCI (9 digits, text), or ``None``.
    files
        ``{key: absolute Path}`` for the layers and tables given (keys of :data:`FILE_KEYS`);
        a tuple of paths for the tables of :data:`MULTI_FILE_KEYS` given as several files.
    vintages
        ``{source: vintage}`` (text).
    options
        Options, see :data:`OPTION_DEFAULTS`.
    source_path
        The configuration file, or ``None`` for the demo territory.
    demo
        True for the embedded demo territory (illustrative stand-in data).
    layers
        Optional already-loaded layers ``{key: GeoDataFrame}`` taking precedence over ``files``
        (used by the QGIS plugin and by tests); never written back.
    """

    name: str
    siren_epci: str | None
    files: Mapping[str, Path | tuple[Path, ...]]
    vintages: Mapping[str, str] = field(default_factory=lambda: dict(VINTAGE_DEFAULTS))
    options: Mapping[str, Any] = field(default_factory=lambda: dict(OPTION_DEFAULTS))
    source_path: Path | None = None
    demo: bool = False
    layers: Mapping[str, Any] = field(default_factory=dict)

    def has(self, key: str) -> bool:
        """Tell whether layer/table ``key`` is available (file given or layer passed)."""
        return key in self.layers or key in self.files

    def paths(self, key: str) -> list[Path]:
        """Return the file(s) given for ``key`` (empty when absent or given in memory)."""
        value = self.files.get(key)
        if value is None:
            return []
        return list(value) if isinstance(value, tuple) else [value]

    def missing(self) -> list[str]:
        """Keys of :data:`FILE_KEYS` that are not available, in declaration order."""
        return [k for k in FILE_KEYS if not self.has(k)]

    def with_layers(self, **layers: Any) -> PortraitConfig:
        """Return a copy with some layers given in memory (they override files)."""
        merged = dict(self.layers)
        merged.update(layers)
        return replace(self, layers=merged)


def _location(path: Path | None) -> str:
    return str(path) if path else "configuration"


def _check_keys(section: str, values: Mapping[str, Any], allowed: set[str],
                path: Path | None) -> None:
    unknown = sorted(set(values) - allowed)
    if unknown:
        raise SchemaError(
            f"{_location(path)}: unknown key(s) {', '.join(unknown)} in [{section}]; "
            f"accepted keys: {', '.join(sorted(allowed))}. Check the spelling "
            "(qpvgeo init-config writes a commented example)"
        )


def config_from_dict(data: Mapping[str, Any], *, base_dir: Path | None = None,
                     source_path: Path | None = None, check_files: bool = True) -> PortraitConfig:
    """Build a :class:`PortraitConfig` from a parsed TOML mapping.

    Parameters
    ----------
    data
        Mapping with the sections ``territoire``, ``fichiers``, ``millesimes``, ``options``.
    base_dir
        Folder relative paths are resolved from (the configuration file's folder).
    source_path
        The configuration file (for messages).
    check_files
        Raise :class:`InputFileError` when a named file does not exist.

    Raises
    ------
    SchemaError
        Unknown section or key, wrong value type, no ``fichiers.qpv``.
    InputFileError
        A named file does not exist (the message gives the key and the resolved path).
    """
    _check_keys("racine", data, _SECTIONS, source_path)
    terr = dict(data.get("territoire", {}))
    _check_keys("territoire", terr, {"nom", "siren_epci"}, source_path)
    raw_files = dict(data.get("fichiers", {}))
    _check_keys("fichiers", raw_files, set(FILE_KEYS), source_path)
    raw_vint = dict(data.get("millesimes", {}))
    _check_keys("millesimes", raw_vint, set(VINTAGE_DEFAULTS), source_path)
    raw_opts = dict(data.get("options", {}))
    _check_keys("options", raw_opts, set(OPTION_DEFAULTS), source_path)

    siren = terr.get("siren_epci")
    if siren is not None:
        if isinstance(siren, int):
            raise SchemaError(
                f"{_location(source_path)}: [territoire] siren_epci must be text in quotes "
                f"(e.g. siren_epci = \"{siren:09d}\"), not a number"
            )
        siren = str(siren).strip()
        if not (len(siren) == 9 and siren.isdigit()):
            raise SchemaError(
                f"{_location(source_path)}: [territoire] siren_epci = {siren!r} is not a 9-digit "
                "SIREN code (e.g. \"246200364\" for the CA de Lens-Liévin)"
            )

    base = base_dir if base_dir is not None else Path.cwd()
    files: dict[str, Path | tuple[Path, ...]] = {}
    for key, value in raw_files.items():
        if value in (None, "", []):
            continue
        many = isinstance(value, list)
        if many and key not in MULTI_FILE_KEYS:
            raise SchemaError(f"{_location(source_path)}: [fichiers] {key} takes one path in "
                              f"quotes, not a list (lists are accepted for "
                              f"{', '.join(sorted(MULTI_FILE_KEYS))})")
        values = value if many else [value]
        paths: list[Path] = []
        for v in values:
            if not isinstance(v, str) or not v:
                alt = " or a list of paths" if key in MULTI_FILE_KEYS else ""
                raise SchemaError(f"{_location(source_path)}: [fichiers] {key} must be a path "
                                  f"in quotes{alt}, got {value!r}")
            p = Path(v).expanduser()
            p = ((base / p) if not p.is_absolute() else p).resolve()
            if check_files and not p.exists():
                raise InputFileError(
                    f"{_location(source_path)}: [fichiers] {key} = {v!r} does not exist "
                    f"(looked for {p}); paths are relative to the configuration file's "
                    "folder. Fix the path or remove the line to skip this section"
                )
            paths.append(p)
        files[key] = tuple(paths) if many else paths[0]
    if not isinstance(files.get("qpv"), Path):
        raise SchemaError(f"{_location(source_path)}: [fichiers] qpv is required (the QPV "
                          "perimeters, e.g. QP2024_France_hexagonale_LB93.shp)")

    vintages = dict(VINTAGE_DEFAULTS)
    vintages.update({k: str(v) for k, v in raw_vint.items()})
    options = dict(OPTION_DEFAULTS)
    for key, value in raw_opts.items():
        default = OPTION_DEFAULTS[key]
        if isinstance(default, float) and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            value = float(value)
        elif isinstance(default, list):
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SchemaError(f"{_location(source_path)}: [options] {key} must be a list of "
                                  f"codes in quotes, e.g. [\"QN06225M\"], got {value!r}")
        elif isinstance(default, int) and not isinstance(default, bool):
            if not isinstance(value, int) or isinstance(value, bool):
                raise SchemaError(f"{_location(source_path)}: [options] {key} must be an "
                                  f"integer, got {value!r}")
        elif not isinstance(value, type(default)):
            raise SchemaError(f"{_location(source_path)}: [options] {key} must be "
                              f"{type(default).__name__}, got {value!r}")
        options[key] = value
    for key in ("marche_minutes", "vitesse_marche_kmh", "detail_batiments_m",
                "carreau_batiments_m"):
        if float(options[key]) <= 0:
            raise SchemaError(f"{_location(source_path)}: [options] {key} must be positive, "
                              f"got {options[key]!r}")
    return PortraitConfig(
        name=str(terr.get("nom") or "Territoire"), siren_epci=siren, files=files,
        vintages=vintages, options=options, source_path=source_path, demo=False,
    )


def load_config(path: str | Path) -> PortraitConfig:
    """Read a TOML portrait configuration.

    Parameters
    ----------
    path
        The ``.toml`` file. Relative paths inside it are resolved from its folder.

    Returns
    -------
    PortraitConfig

    Raises
    ------
    InputFileError
        The file is missing or is not valid TOML (line and column given), or a named file is
        missing.
    SchemaError
        Unknown keys, wrong types, no QPV layer.
    """
    p = Path(path).expanduser().resolve()
    if not p.is_file():
        raise InputFileError(f"{path}: configuration file not found; create one with "
                             "'qpvgeo init-config territoire.toml'")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InputFileError(f"{p}: not a valid TOML file ({exc}); check quotes around "
                             "paths and codes") from exc
    except UnicodeDecodeError as exc:
        raise InputFileError(f"{p}: not UTF-8 text ({exc}); save the file as UTF-8") from exc
    return config_from_dict(data, base_dir=p.parent, source_path=p)


# Demo territory: dataset names of qpvgeo.datasets for each configuration key (a tuple: the
# INSEE bases joined on the IRIS code). Names the demo does not provide are skipped.
_CENSUS_BASES = ("pop", "activite", "diplomes", "logement", "familles", "filosofi")
DEMO_DATASETS: dict[str, str | tuple[str, ...]] = {
    "qpv": "qpv",
    "qpv_2015": "qpv2015",
    "iris": "iris",
    "communes": "communes",
    "epci": "epci",
    "batiments": "buildings",
    "thermographie": "heatloss",
    "qualite_logement": "housing_quality",
    "rpls": "rpls",
    "bpe": "bpe",
    "colleges": "colleges",
    "voirie": "streets",
    "sirene_t0": "sirene_2017",
    "sirene_t1": "sirene_2023",
    "insee_iris": tuple(f"{b}_2020" for b in _CENSUS_BASES),
    "insee_iris_t0": tuple(f"{b}_2015" for b in _CENSUS_BASES),
    "insee_commune": ("filosofi_communes_2020", "filosofi_communes_2015"),
    "insee_epci": ("filosofi_epci_2020", "filosofi_epci_2015"),
    "insee_qpv": "qpv_indicators_2020",
    "insee_qpv_t0": "qpv_indicators_2015",
    "correspondance_qpv": "qpv_correspondence",
    "reference": "reference_values",
}

DEMO_VINTAGES: dict[str, str] = {"rpls": "2021", "thermographie": "illustratif"}
"""Vintages of the demo files that differ from :data:`VINTAGE_DEFAULTS` (the demo's RPLS
file is laid out as RPLS 2021; its thermography has no real flight date)."""


def demo_config() -> PortraitConfig:
    """Return the configuration of the embedded demo territory (CALL, illustrative data).

    Each layer is looked up with :func:`qpvgeo.datasets.get_path` (which generates the
    illustrative stand-ins on first use); layers the demo does not provide are simply absent
    (their sections are skipped with a note). The NPNRU QPV are those flagged in the demo QPV
    layer's ``npnru`` field.

    Raises
    ------
    InputFileError
        The demo files cannot be found or generated (``make data`` /
        ``python data/make_demo.py``).
    """
    from qpvgeo import datasets

    available = set(datasets.available)
    files: dict[str, Path | tuple[Path, ...]] = {}
    for key, names in DEMO_DATASETS.items():
        wanted = names if isinstance(names, tuple) else (names,)
        if not all(n in available for n in wanted):
            continue
        paths = tuple(Path(datasets.get_path(n)) for n in wanted)
        files[key] = paths if isinstance(names, tuple) else paths[0]
    options = dict(OPTION_DEFAULTS)
    options["champ_npnru"] = "npnru"
    vintages = dict(VINTAGE_DEFAULTS)
    vintages.update(DEMO_VINTAGES)
    return PortraitConfig(name="CA de Lens-Liévin (territoire de démonstration)",
                          siren_epci="246200364", files=files, vintages=vintages,
                          options=options, source_path=None, demo=True)


CONFIG_TEMPLATE = """\
# Configuration du portrait de territoire qpvgeo (format TOML).
# Lancer : qpvgeo portrait --config {filename} --out sortie/portrait
# Les chemins relatifs sont lus depuis le dossier de ce fichier.
# Seul [fichiers] qpv est obligatoire : une couche absente (ligne supprimée ou commentée)
# fait sauter la section correspondante du rapport, avec une note.
# Les codes (EPCI, QPV) s'écrivent entre guillemets : "246200364", pas 246200364.

[territoire]
nom = "CA de Lens-Liévin"
siren_epci = "246200364"          # SIREN de l'EPCI (9 chiffres)

[fichiers]
# Périmètres des QPV 2024 (ANCT), n'importe quelle projection (reprojetés en Lambert-93).
qpv = "donnees/QP2024_France_hexagonale_LB93.shp"
# QPV 2015, pour l'évolution depuis le précédent contrat de ville (facultatif).
# qpv_2015 = "donnees/QP_METROPOLEOUTREMER_WGS84_EPSG4326.shp"
# Contours IRIS (IGN) et indicateurs INSEE par IRIS (recensement, Filosofi).
# iris = "donnees/CONTOURS-IRIS.shp"
# Une table ou une liste de tables (une par base INSEE), jointes sur le code IRIS :
# insee_iris = ["donnees/base-ic-evol-struct-pop-2020.csv",
#               "donnees/base-ic-activite-residents-2020.csv",
#               "donnees/BASE_TD_FILO_DISP_IRIS_2020.csv"]
# insee_iris_t0 = ["donnees/base-ic-evol-struct-pop-2015.csv",
#                  "donnees/base-ic-activite-residents-2015.csv"]
# Filosofi de l'EPCI (médiane et taux de pauvreté du territoire, qu'on ne peut pas
# recalculer à partir des IRIS) et des communes ; une table par millésime :
# insee_epci = ["donnees/base-cc-filosofi-2020_EPCI.csv",
#               "donnees/base-cc-filosofi-2015_EPCI.csv"]
# insee_commune = ["donnees/base-cc-filosofi-2020_COM.csv",
#                  "donnees/base-cc-filosofi-2015_COM.csv"]
# insee_qpv = "donnees/indicateurs_qpv_onpv.csv"   # tables officielles par QPV
# insee_qpv_t0 = "donnees/indicateurs_qp2015.csv"  # idem, QPV 2015, millésime précédent
# correspondance_qpv = "donnees/liste-correspondance-qp2024-qp2015.csv"   # ANCT
# reference = "donnees/reference.csv"              # département, région, France
# Communes et EPCI (Admin Express).
# communes = "donnees/COMMUNE.shp"
# epci = "donnees/EPCI.shp"
# Bâtiments (BD TOPO BATIMENT) et thermographie aérienne (raster classé ou températures).
# batiments = "donnees/BATIMENT.shp"
# thermographie = "donnees/thermographie.tif"
# Qualité du logement (diagnostic PLH : bon / moyen / médiocre / mauvais).
# qualite_logement = "donnees/qualite_logement.gpkg"
# Logements sociaux (RPLS, un logement par ligne) et équipements (BPE).
# rpls = "donnees/RPLS_2023.csv"
# bpe = "donnees/BPE23.csv"
# Collèges : IPS et appartenance à l'éducation prioritaire, avec coordonnées (Éducation
# nationale : fr-en-ips_colleges joint à l'annuaire de l'éducation).
# colleges = "donnees/colleges_ips.csv"
# Rues (BD TOPO TRONCON_DE_ROUTE ou OSM) : distances à pied sur le réseau plutôt qu'à vol
# d'oiseau (facultatif).
# voirie = "donnees/TRONCON_DE_ROUTE.shp"
# Établissements SIRENE géolocalisés à deux dates.
# sirene_t0 = "donnees/sirene_2017.csv"
# sirene_t1 = "donnees/sirene_2023.csv"

[millesimes]
# Millésime de chaque source, rappelé sous chaque tableau du rapport.
qpv = "2024"
recensement = "2020"
recensement_t0 = "2015"     # comparer des millésimes distants d'au moins 5 ans (INSEE)
filosofi = "2020"
filosofi_t0 = "2015"
rpls = "2023"
bpe = "2023"
colleges = "2022"           # rentrée scolaire de l'IPS (2022 = 2022-2023)
sirene_t0 = "2017"
sirene_t1 = "2023"
batiments = "2024"
thermographie = "2021"

[options]
indicateur_carte = "heatloss_strong_share"  # colonne du tableau des QPV utilisée pour la carte
schema_deperditions = "classes"   # "classes" (raster déjà classé) ou "temperature" (°C)
marche_minutes = 15.0             # temps de marche vers les équipements de santé (minutes)
vitesse_marche_kmh = 4.5          # vitesse de marche (km/h)
npnru = ["QN06225M"]              # QPV retenus au titre du NPNRU (mis en évidence)
champ_npnru = ""                  # ou nom d'un champ de la couche QPV valant 1/oui pour le NPNRU
detail_batiments_m = 300.0        # bâtiments dessinés un à un dans les QPV + cette marge (m)
carreau_batiments_m = 250.0       # ailleurs, bâtiments agrégés en carreaux de ce côté (m)
seuil_iris_concerne = 0.0         # part minimale de l'IRIS située en QPV pour un « IRIS concerné »
classes_carte = 5                 # nombre de classes de la carte des QPV
"""
"""Commented French template written by ``qpvgeo init-config``."""


def write_config_template(path: str | Path, *, overwrite: bool = False) -> Path:
    """Write the commented configuration template to ``path``.

    Parameters
    ----------
    path
        Destination ``.toml`` file.
    overwrite
        Replace an existing file (default: refuse).

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    InputFileError
        The file exists and ``overwrite`` is false, or it cannot be written.
    """
    p = Path(path).expanduser()
    if p.exists() and not overwrite:
        raise InputFileError(f"{p}: file exists; choose another name or pass --force")
    text = CONFIG_TEMPLATE.format(filename=p.name)
    # The template must stay valid TOML (checked in the tests too).
    tomllib.loads(text)
    try:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
    except OSError as exc:
        raise InputFileError(f"{p}: cannot write the configuration ({exc})") from exc
    return p
