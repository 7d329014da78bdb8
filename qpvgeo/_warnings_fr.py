"""French wording of the library's data-quality warnings, for the portrait's users.

The engines warn in English (they are a Python API, like the errors). The portrait lists the
warnings of a run in its report, in ``resume.json`` and on the command line, for GIS officers
who read French: :func:`french_warning` rewrites each known message in French, keeping its
figures, codes and file names. A message with no French wording here is kept as it is, marked
``(message non traduit)``, so nothing is ever hidden.

Each pattern below matches one message of the library as it is written in the engine
(``tests/test_warnings_fr.py`` makes the engines emit them and checks they are translated).
"""

from __future__ import annotations

import re
from collections.abc import Callable

__all__ = ["UNTRANSLATED", "french_warning"]

UNTRANSLATED = "(message non traduit)"

# English nouns of the messages (singular, as written before "(s)") → French plural/singular
_NOUNS = {
    "establishment": ("établissement", "établissements"),
    "equipment": ("équipement", "équipements"),
    "dwelling": ("logement", "logements"),
    "point": ("point", "points"),
    "points": ("point", "points"),
    "feature": ("objet", "objets"),
    "target": ("zone cible", "zones cibles"),
    "building": ("bâtiment", "bâtiments"),
    "residence": ("résidence", "résidences"),
    "row": ("ligne", "lignes"),
    "zone": ("zone", "zones"),
}

# default layer names of the engines (when the caller gave none)
_LAYERS = {"input layer": "couche d'entrée", "weights": "couche de pondération"}

_CATEGORIES = {
    "DataQualityWarning": "Qualité des données",
    "UserWarning": "Avertissement",
    "RuntimeWarning": "Avertissement de calcul",
}


def _noun(word: str, count: str) -> str:
    """French noun for an English one of the messages, agreed with ``count``."""
    word = word.strip()
    key = word.removesuffix("(s)")
    words = key.split()
    head = words[-1] if words else key
    pair = _NOUNS.get(head) or _NOUNS.get(head.rstrip("s"))
    if pair is None:
        return word
    french = pair[1] if int(count) >= 2 else pair[0]  # counts are matched as \d+
    qualifier = " ".join(words[:-1])
    if not qualifier:
        return french
    return f"{french} de santé" if qualifier in ("sante", "santé") else f"{french} ({qualifier})"


def _n(count: str) -> str:
    """Figures as French writes them (thin space between thousands)."""
    if count.isdigit() and len(count) > 3:
        return f"{int(count):,}".replace(",", "\u202f")
    return count


_Rule = tuple["re.Pattern[str]", Callable[["re.Match[str]"], str]]


def _rule(pattern: str, render: Callable[[re.Match[str]], str]) -> _Rule:
    return re.compile(pattern, re.DOTALL), render


_RULES: list[_Rule] = [
    _rule(r"(?P<f>.+?): no INSEE commune code column(?P<w>.*?); insee_com is left missing\..*",
          lambda m: f"{m['f']} : pas de colonne de code commune INSEE"
                    f"{_where(m['w'])} ; le code commune (insee_com) des QPV reste vide. "
                    "Joindre les QPV aux communes par localisation, ou indiquer la colonne "
                    "(columns={'insee_com': '<colonne>'})"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) (?P<w>[\w ]+?)\(s\) out of (?P<t>\d+) without coordinates "
          r"were dropped.*",
          lambda m: f"{m['f']} : {_n(m['n'])} {_noun(m['w'], m['n'])} sur {_n(m['t'])} sans "
                    "coordonnées écartés (coordonnées absentes, non diffusibles ou illisibles)"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) row\(s\) about (?P<k>\d+) indicator\(s\) qpvgeo does not "
          r"compute were left out \((?P<l>.*)\); see attrs.*",
          lambda m: f"{m['f']} : {_n(m['n'])} ligne(s) portant sur {m['k']} indicateur(s) que "
                    f"qpvgeo ne calcule pas ont été laissées de côté "
                    f"({_more(m['l'])})"),
    _rule(r"(?P<f>.+?): line\(s\) (?P<l>.+?) have no vintage; their figures are kept but "
          r"cannot be matched to a year",
          lambda m: f"{m['f']} : ligne(s) {m['l']} sans millésime ; leurs valeurs sont gardées "
                    "mais ne peuvent être rattachées à une année"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) of (?P<t>\d+) feature\(s\) have no value in column "
          r"(?P<c>.+?); they carry no weight \(counted as 0\)",
          lambda m: f"{m['f']} : {_n(m['n'])} objet(s) sur {_n(m['t'])} sans valeur dans la "
                    f"colonne {m['c']} ; ils ne portent aucun poids dans la pondération"),
    _rule(r"(?P<n>\d+) (?P<w>\w+)\(s\) only partly covered by the source units \(e\.g\. "
          r"(?P<e>.+?) of the area\): .*",
          lambda m: f"{_n(m['n'])} {_noun(m['w'], m['n'])} seulement en partie couverte(s) par "
                    f"les unités sources (ex. {_pct(m['e'])} de la surface) : leurs effectifs ne "
                    "portent que sur cette partie (voir coverage_share) ; étendre la couche "
                    "source (ex. IRIS des communes voisines)"),
    _rule(r"(?P<n>\d+) (?P<w>\w+)\(s\) lie outside every source unit \(e\.g\. (?P<e>.+?)\): "
          r"their figures are missing.*",
          lambda m: f"{_n(m['n'])} {_noun(m['w'], m['n'])} hors de toute unité source "
                    f"(ex. {m['e']}) : leurs valeurs manquent (coverage_share = 0)"),
    _rule(r"values: (?P<n>\d+) source unit\(s\) overlapping a target have no row in the values "
          r"table \(e\.g\. (?P<e>.+?)\); .*",
          lambda m: f"{_n(m['n'])} unité(s) source(s) recoupant une zone n'ont pas de ligne dans "
                    f"le tableau de valeurs (ex. {m['e']}) ; leurs valeurs comptent comme "
                    "manquantes"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) (?P<w>[\w ]+?) equipment with TYPEQU codes not in the BPE "
          r"(?P<v>\d+) table of qpvgeo \((?P<l>.*)\); they are not counted\..*",
          lambda m: f"{m['f']} : {_n(m['n'])} {_noun(m['w'] + ' equipment', m['n'])} dont le "
                    f"code TYPEQU n'est pas dans la table BPE {m['v']} de qpvgeo ({m['l']}) ; ils "
                    "ne sont pas comptés. Vérifier le millésime de la BPE (les codes changent "
                    "d'un millésime à l'autre)"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) of (?P<t>\d+) (?P<w>[\w ]+?) lie outside the territory and "
          r"outside every zone; .*",
          lambda m: f"{m['f']} : {_n(m['n'])} {_noun(m['w'], m['n'])} sur {_n(m['t'])} hors du "
                    "territoire et de toute zone ; ils ne sont pas comptés (vérifier le système "
                    "de coordonnées ou filtrer la couche sur le territoire)"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) of (?P<t>\d+) (?P<w>[\w ]+?) lie outside every zone and are "
          r"not counted.*",
          lambda m: f"{m['f']} : {_n(m['n'])} {_noun(m['w'], m['n'])} sur {_n(m['t'])} hors de "
                    "toute zone, comptés dans aucune"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) of (?P<t>\d+) (?P<w>[\w ]+?) have no geometry .*",
          lambda m: f"{m['f']} : {_n(m['n'])} {_noun(m['w'], m['n'])} sur {_n(m['t'])} sans "
                    "géométrie (sans coordonnées) ne peuvent être localisés ; ils ne sont pas "
                    "comptés"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) (?P<w>[\w ]+?) with a (?P<k>.+?) have no match in the "
          r"attribute table; .*",
          lambda m: f"{m['f']} : {_n(m['n'])} point(s) avec {m['k']} sans correspondance dans "
                    "la table attributaire ; leurs attributs manquent"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) invalid zone geometr(?:y|ies) repaired with make_valid",
          lambda m: f"{m['f']} : {_n(m['n'])} géométrie(s) de zone invalide(s) réparée(s) "
                    "(make_valid)"),
    _rule(r"(?P<f>.+?): (?P<a>\d+) invalid geometr(?:y|ies) repaired with make_valid"
          r"(?:; (?P<b>\d+) empty or missing geometr(?:y|ies) dropped)?",
          lambda m: f"{m['f']} : {_n(m['a'])} géométrie(s) invalide(s) réparée(s) (make_valid)"
                    + (f" ; {_n(m['b'])} géométrie(s) vide(s) ou absente(s) écartée(s)"
                       if m["b"] else "")),
    _rule(r"(?P<f>.+?): (?P<b>\d+) empty or missing geometr(?:y|ies) dropped",
          lambda m: f"{m['f']} : {_n(m['b'])} géométrie(s) vide(s) ou absente(s) écartée(s)"),
    _rule(r"(?P<f>.+?): column (?P<c>\S+) had (?P<n>\d+) .*?code\(s\) shorter than (?P<w>\d+) "
          r"(?:characters|digits) \(read as numbers\?\); leading zeros restored.*",
          lambda m: f"{m['f']} : la colonne {m['c']} avait {_n(m['n'])} code(s) de moins de "
                    f"{m['w']} caractères (lus comme des nombres ?) ; zéros initiaux rétablis. "
                    "Lire les codes comme du texte"),
    _rule(r"(?P<f>.+?): column (?P<c>\S+) had (?P<n>\d+) (?P<k>.+?) shorter than (?P<w>\d+) "
          r"digits \(read as numbers\?\); leading zeros restored",
          lambda m: f"{m['f']} : la colonne {m['c']} avait {_n(m['n'])} code(s) de moins de "
                    f"{m['w']} chiffres (lus comme des nombres ?) ; zéros initiaux rétablis"),
    _rule(r"(?P<f>.+?): unexpected non-numeric values in numeric column\(s\) (?P<c>.+?); set "
          r"missing \(NaN, flagged in secret_vars\), not 0",
          lambda m: f"{m['f']} : valeurs non numériques inattendues dans la ou les colonnes "
                    f"{m['c']} ; laissées manquantes (signalées dans secret_vars), jamais 0"),
    _rule(r"(?P<f>.+?): column (?P<c>\S+) has (?P<n>\d+) value\(s\) that are not (?P<k>.+?) "
          r"\(e\.g\. (?P<e>.+?)\); they are set missing \(NaN\), not 0\..*",
          lambda m: f"{m['f']} : la colonne {m['c']} a {_n(m['n'])} valeur(s) illisible(s) "
                    f"(ex. {m['e']}) ; laissées manquantes, jamais 0"),
    _rule(r"(?P<f>.+?): column (?P<c>\S+) has non-numeric values \((?P<e>.+?)\); they are read "
          r"as missing",
          lambda m: f"{m['f']} : la colonne {m['c']} a des valeurs non numériques ({m['e']}) ; "
                    "lues comme manquantes"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) IRIS code\(s\) do not start with their commune code "
          r"\(e\.g\. (?P<e>.+?)\); check .*",
          lambda m: f"{m['f']} : {_n(m['n'])} code(s) IRIS ne commencent pas par leur code "
                    f"commune (ex. {m['e']}) ; vérifier que les géographies IRIS et communales "
                    "sont du même millésime"),
    _rule(r"(?P<f>.+?): vintage=(?P<a>\S+) was given but the variable names say (?P<b>\S+) "
          r"\(e\.g\. (?P<e>.*?)\); keeping (?P<c>\S+) as asked",
          lambda m: f"{m['f']} : millésime {m['a']} demandé mais les noms de variables disent "
                    f"{m['b']} (ex. {m['e']}) ; {m['c']} est gardé comme demandé"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) dwelling\(s\) have a financing code not in the RPLS "
          r"nomenclature \((?P<l>.*)\); counted as 'inconnu'",
          lambda m: f"{m['f']} : {_n(m['n'])} logement(s) avec un code de financement hors de la "
                    f"nomenclature RPLS ({m['l']}) ; comptés comme « inconnu »"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) row\(s\) with a duplicated (?P<c>\S+) dropped .*",
          lambda m: f"{m['f']} : {_n(m['n'])} ligne(s) dont l'identifiant {m['c']} est en "
                    "double écartée(s) (première ligne de chaque identifiant gardée)"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) duplicated siret dropped .*",
          lambda m: f"{m['f']} : {_n(m['n'])} SIRET en double écarté(s) (première ligne "
                    "gardée)"),
    _rule(r"(?P<f>.+?): no column for (?P<c>.+?) \(looked for .*?\); these shares are missing",
          lambda m: f"{m['f']} : pas de colonne pour {m['c']} ; ces parts manquent"),
    _rule(r"(?P<f>.+?): (?P<n>\d+) feature\(s\) have a class not in (?P<k>\[.*?\]) "
          r"\((?P<l>.*)\); counted as 'inconnu'",
          lambda m: f"{m['f']} : {_n(m['n'])} objet(s) d'une classe hors de {m['k']} "
                    f"({m['l']}) ; comptés comme « inconnu »"),
    _rule(r"(?P<f>.+?): no column etat; every establishment counted as active",
          lambda m: f"{m['f']} : pas de colonne etat ; chaque établissement est compté comme "
                    "actif"),
    _rule(r"(?P<f>.+?): no legal-category column \(categorie_juridique\); the "
          r"individual-entrepreneur share is missing",
          lambda m: f"{m['f']} : pas de colonne de catégorie juridique (categorie_juridique) ; "
                    "la part des entrepreneurs individuels manque"),
    _rule(r"residences: only (?P<p>\S+) of the residential buildings have a (?P<c>\S+); the "
          r"population is spread by footprint area instead",
          lambda m: f"résidences : seuls {_pct(m['p'])} des bâtiments résidentiels ont une "
                    f"valeur {m['c']} ; la population est répartie selon l'emprise au sol"),
    _rule(r"residences: (?P<n>\d+) zone\(s\) hold no residence; .*",
          lambda m: f"résidences : {_n(m['n'])} zone(s) sans résidence ; leur population est "
                    "répartie uniformément sur une grille (coverage_basis = 'grid')"),
    _rule(r"walking graph: it does not cover (?P<n>\d+) zone\(s\) \((?P<l>.*?)\): .*?more than "
          r"(?P<d>\S+) m from the streets; .*",
          lambda m: f"réseau piéton : il ne couvre pas {_n(m['n'])} zone(s) ({m['l']}) : aucun "
                    f"nœud de rue à l'intérieur, ou résidences à plus de {m['d']} m des rues ; "
                    "distance à vol d'oiseau utilisée (reach_method = 'euclidean_fallback')"),
    _rule(r"(?P<f>.+?): (?P<n>[\d.]+) measured pixel\(s\) hold values not listed in classes "
          r"\((?P<l>.*?)\); .*",
          lambda m: f"{m['f']} : {m['n']} pixel(s) mesuré(s) de valeurs hors des classes "
                    f"({m['l']}) ; comptés dans la surface mesurée mais dans aucune classe"),
    _rule(r"(?P<f>.+?): (?P<n>[\d.]+) pixel\(s\) under the buildings hold values that are not "
          r"classes of the scheme \((?P<l>.*?), not measured: .*",
          lambda m: f"{m['f']} : {m['n']} pixel(s) sous les bâtiments de valeurs hors des "
                    f"classes ({m['l']}) ; traités comme non mesurés. Vérifier le raster ou la "
                    "légende des classes (HeatLossScheme)"),
    _rule(r"(?P<f>.+?): no field (?P<c>.+?) for the NPNRU QPV \(\[options\] champ_npnru\); "
          r"fields: (?P<l>.*)",
          lambda m: f"{m['f']} : pas de champ {m['c']} pour les QPV NPNRU ([options] "
                    f"champ_npnru) ; champs : {m['l']}"),
    _rule(r"(?P<f>.+?): variables present in several tables with different values, the first "
          r"table's value is kept: (?P<l>.*)",
          lambda m: f"{m['f']} : variables présentes dans plusieurs tableaux avec des valeurs "
                    f"différentes, la valeur du premier tableau est gardée : {m['l']}"),
]


def _where(text: str) -> str:
    """`` (commune names are in COMMUNE_QP)`` → French."""
    m = re.fullmatch(r"\s*\(commune names are in (\S+)\)\s*", text)
    return f" (les noms de communes sont dans {m[1]})" if m else ""


def _more(text: str) -> str:
    """``… (3 more)`` at the end of a list → ``… (3 autres)``."""
    return re.sub(r"\((\d+) more\)", r"(\1 autres)", text)


def _pct(text: str) -> str:
    """``QN06216M (26%)`` / ``26%`` → French spacing before the percent sign."""
    return re.sub(r"(\d)%", "\\1\u202f%", text)


def french_warning(text: str) -> str:
    """The French wording of one warning of the library, as the portrait lists it.

    Parameters
    ----------
    text
        ``"<Category> : <message>"`` as the portrait records it (e.g.
        ``"DataQualityWarning : bpe: 78 of 915 equipment lie outside…"``), or the bare message.

    Returns
    -------
    str
        ``"Qualité des données : bpe : 78 équipements sur 915 hors du territoire…"``. A message
        already in French is kept; one with no wording here is kept with ``(message non
        traduit)`` appended.
    """
    category, sep, message = text.partition(" : ")
    if not sep or " " in category:
        category, message = "", text
    label = _CATEGORIES.get(category, category)
    prefix = f"{label} : " if label else ""
    message = message.strip()
    head, colon, rest = message.partition(": ")
    if colon and head in _LAYERS:
        message = f"{_LAYERS[head]}: {rest}"
    for pattern, render in _RULES:
        m = pattern.fullmatch(message)
        if m:
            return prefix + render(m)
    if _looks_french(message):
        return prefix + re.sub(r"^([^\s:]+): ", r"\1 : ", message)
    return f"{prefix}{message} {UNTRANSLATED}"


_FRENCH_HINTS = re.compile(r"[éèàùêâç]|\b(?:les|des|une|est|sont|pour|dans)\b")


def _looks_french(message: str) -> bool:
    """Messages the engines already write in French (e.g. the Filosofi vintage caution)."""
    _, _, rest = message.partition(": ")
    return bool(_FRENCH_HINTS.search(rest or message))
