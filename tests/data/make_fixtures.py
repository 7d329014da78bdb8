"""Write the small reader fixtures of tests/data (deterministic; run from the repository root).

    .venv/bin/python tests/data/make_fixtures.py

Every file copies the layout of an official file (column names, separator, encoding, CRS) as
documented in shared/DOMAIN.md; the values are synthetic and small enough to check by hand
(see tests/data/README.md). Geometries are squares on whole Lambert-93 metres near Lens, so
areas and coordinates can be written as arithmetic in the tests.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from pyproj import Transformer

HERE = Path(__file__).resolve().parent

# Origin of the fixtures' grid: whole Lambert-93 metres in Lens (62498).
X0, Y0 = 686_000.0, 7_034_000.0
TO_WGS84 = Transformer.from_crs(2154, 4326, always_xy=True)


def square(x: float, y: float, side: float) -> shapely.Polygon:
    return shapely.box(x, y, x + side, y + side)


def write_text(name: str, text: str, encoding: str = "utf-8") -> None:
    (HERE / name).write_bytes(text.encode(encoding))


def remove_shapefile(stem: Path) -> None:
    for ext in (".shp", ".shx", ".dbf", ".prj", ".cpg"):
        stem.with_suffix(ext).unlink(missing_ok=True)


def qpv_layers() -> None:
    # ANCT 2024 GeoJSON (WGS84): three 200 m squares, 40 000 m² each in Lambert-93.
    qpv = gpd.GeoDataFrame(
        {
            "code_qp": ["QN06224M", "QN06226M", "QN06227M"],
            "lib_qp": ["Cité 12-14", "Cité 2", "Sellier Cité 4"],
            "insee_reg": ["32", "32", "32"],
            "insee_dep": ["62", "62", "62"],
            "insee_com": ["62498; 62528", "62498", "62498"],
            "lib_com": ["Lens; Loos-en-Gohelle", "Lens", "Lens"],
            "siren_epci": ["246200364"] * 3,
        },
        geometry=[square(X0, Y0, 200), square(X0 + 1000, Y0, 200), square(X0 + 2000, Y0, 200)],
        crs=2154,
    ).to_crs(4326)
    out = HERE / "qpv2024_wgs84.geojson"
    out.unlink(missing_ok=True)
    qpv.to_file(out, driver="GeoJSON")

    # Empty layer with the 2024 schema.
    empty = gpd.GeoDataFrame(
        {"code_qp": pd.Series([], dtype=str), "lib_qp": pd.Series([], dtype=str)},
        geometry=gpd.GeoSeries([], crs=2154),
    )
    out = HERE / "empty_layer.gpkg"
    out.unlink(missing_ok=True)
    empty.to_file(out, layer="qpv", driver="GPKG", geometry_type="MultiPolygon")


def iris_layers() -> None:
    # CONTOURS-IRIS 2.1 shapefile in CC50 (EPSG:3950): four 500 m squares of Lens in a 2x2 grid,
    # built in Lambert-93 and reprojected vertex by vertex.
    cells = [square(X0 + i * 500, Y0 + j * 500, 500) for j in (0, 1) for i in (0, 1)]
    iris = gpd.GeoDataFrame(
        {
            "INSEE_COM": ["62498"] * 4,
            "NOM_COM": ["Lens"] * 4,
            "IRIS": ["0101", "0102", "0103", "0104"],
            "CODE_IRIS": ["624980101", "624980102", "624980103", "624980104"],
            "NOM_IRIS": ["Centre", "Gare", "Cité 12", "Grande Résidence"],
            "TYP_IRIS": ["H", "A", "H", "H"],
        },
        geometry=cells, crs=2154,
    ).to_crs(3950)
    stem = HERE / "iris_contours_cc50"
    remove_shapefile(stem)
    iris.to_file(stem.with_suffix(".shp"), encoding="utf-8")

    # A shapefile without .prj (no CRS): the same squares in Lambert-93 coordinates.
    stem = HERE / "no_crs"
    remove_shapefile(stem)
    gpd.GeoDataFrame({"CODE_IRIS": ["624980101"]}, geometry=cells[:1]).to_file(
        stem.with_suffix(".shp"))
    stem.with_suffix(".prj").unlink(missing_ok=True)


def commune_layers() -> None:
    # Admin Express-like shapefile whose INSEE_COM was saved as an integer (leading zero lost).
    stem = HERE / "communes_int_codes"
    remove_shapefile(stem)
    gpd.GeoDataFrame(
        {"INSEE_COM": np.array([1053, 62498], dtype="int64"), "NOM": ["Bourg-en-Bresse", "Lens"]},
        geometry=[square(X0, Y0, 1000), square(X0 + 1000, Y0, 1000)], crs=2154,
    ).to_file(stem.with_suffix(".shp"), encoding="utf-8")

    # geo.api.gouv.fr-style GeoJSON (code, nom) for Corsica: codes 2A004 (Ajaccio), 2B033 (Bastia).
    corse = gpd.GeoDataFrame(
        {"code": ["2A004", "2B033"], "nom": ["Ajaccio", "Bastia"],
         "codeDepartement": ["2A", "2B"]},
        geometry=[square(1_180_000, 6_100_000, 1000), square(1_230_000, 6_190_000, 1000)],
        crs=2154,
    ).to_crs(4326)
    out = HERE / "communes_corse_geoapi.geojson"
    out.unlink(missing_ok=True)
    corse.to_file(out, driver="GeoJSON")


def insee_tables() -> None:
    # base-ic-evol-struct-pop-2020.csv: ';', decimal point, weighted values, UTF-8 without BOM.
    write_text(
        "base-ic-evol-struct-pop-2020_extract.csv",
        "IRIS;COM;TYP_IRIS;LAB_IRIS;P20_POP;P20_POP0014;P20_POPH;C20_POP15P;C20_POP15P_CS1\n"
        "620010000;62001;Z;5;1994.00000000000;412.3456789;981.5;1580.25;12.0000000001\n"
        "624980101;62498;H;1;2500.5;600.25;1200;2000.75;0\n"
        "624980102;62498;A;1;1800;;900;1400;\n",
    )
    # Filosofi IRIS 2020, cp1252 (latin-1), ';', decimal comma, markers s / nd / ns / blank.
    write_text(
        "BASE_TD_FILO_DISP_IRIS_2020_extract_latin1.csv",
        "IRIS;LIBIRIS;COM;LIBCOM;DISP_MED20;DISP_Q120;DISP_TP6020;DISP_GI20\n"
        "624980101;Cité 12 - Résidence;62498;Lens;15230;10110,5;31,2;0,312\n"
        "624980102;Gare;62498;Lens;s;s;s;s\n"
        "624980103;Cité 12;62498;Lens;16010;nd;ns;\n"
        "625100101;Liévin Centre;62510;Liévin;17450,5;11870;22,8;0,287\n",
        encoding="cp1252",
    )
    # QPV-level table: UTF-8 with BOM, trailing empty columns (';;' at the end of every line).
    write_text(
        "qpv_table_bom_trailing.csv",
        "\ufeffCODGEO;LIBGEO;P20_POP;P20_POP0014;DISP_MED20;;\n"
        "QN06224M;Cité 12-14;4321.5;1020.25;12340;;\n"
        "QN06226M;Cité 2;1750;s;11980;;\n"
        "QN06227M;Sellier Cité 4;2210;530;;;\n",
    )
    # A spreadsheet export (',' separated) whose IRIS and COM codes lost their leading zero.
    write_text(
        "iris_codes_lost_zeros.csv",
        "IRIS,COM,P20_POP\n10530101,1053,2103.5\n10530102,1053,1897\n624980101,62498,2500.5\n",
    )
    # base-ic-logement-2020 XLSX: 5 title rows above the header row of variable codes.
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "IRIS"
    ws.append(["Logements en 2020 - IRIS"])
    ws.append([])
    ws.append(["Source : Insee, RP2020 exploitation principale, géographie au 01/01/2022"])
    ws.append([])
    ws.append(["Code IRIS", "Région", "Département", "Unité urbaine", "Commune",
               "Libellé commune", "TRIRIS", "Grand quartier", "Libellé IRIS", "Type IRIS",
               "Modification", "Label", "Logements", "Résidences principales",
               "RP locataires HLM"])
    ws.append(["IRIS", "REG", "DEP", "UU2020", "COM", "LIBCOM", "TRIRIS", "GRD_QUART",
               "LIBIRIS", "TYP_IRIS", "MODIF_IRIS", "LAB_IRIS", "P20_LOG", "P20_RP",
               "P20_RP_LOCHLMV"])
    ws.append(["624980101", "32", "62", "62701", "62498", "Lens", "ZZZZZZ", "6249801",
               "Centre", "H", "00", "1", 1234.5, 1100.25, 300.125])
    ws.append(["624980102", "32", "62", "62701", "62498", "Lens", "ZZZZZZ", "6249801",
               "Gare", "A", "00", "1", 456, 400, None])
    wb.save(HERE / "base-ic-logement-2020_extract.xlsx")


def qpv_lists() -> None:
    # listeqp2024-cog2024.csv layout: ';', UTF-8 BOM, trailing empty columns, lost zero (1053),
    # multi-commune QPV with '; '-joined lists.
    write_text(
        "listeqp2024-cog2024_extract.csv",
        "\ufeffcode_qp;lib_qp;insee_reg;lib_reg;insee_dep;lib_dep;insee_com;lib_com;siren_epci;"
        "lib_epci;;\n"
        "QN06224M;Cité 12-14;32;Hauts-de-France;62;Pas-de-Calais;\"62498; 62528\";"
        "\"Lens; Loos-en-Gohelle\";246200364;CA de Lens - Liévin;;\n"
        "QN00101M;Quartier Exemple;84;Auvergne-Rhône-Alpes;01;Ain;1053;Bourg-en-Bresse;"
        "200071751;CA du Bassin de Bourg-en-Bresse;;\n"
        "QN00201M;Quartier Exemple Aisne;32;Hauts-de-France;02;Aisne;\"02571; 02691\";"
        "\"Montigny; Saint-Quentin\";200071892;CA du Saint-Quentinois;;\n",
    )
    write_text(
        "liste-correspondance-qp2024-qp2015_extract.csv",
        "QP2024;Label_QP2024;Statut;QP2015_1;Label_QP2015_1;QP2015_2;Label_QP2015_2;"
        "QP2015_3;Label_QP2015_3\n"
        "QN06224M;Cité 12-14;Modifié;QP062033;Cité 12;QP062034;Cité 14;;\n"
        "QN06226M;Cité 2;Maintenu;QP062035;Cité 2;;;;\n"
        "QN06264N;Nouveau quartier;Nouveau;;;;;;\n",
    )


def bpe_files() -> None:
    # bpe21_ensemble_xy.csv layout (';', 24 columns, Lambert-93 X/Y, no EPSG column).
    cols = ["AAV2020", "AN", "BV2012", "DEP", "DEPCOM", "DOM", "EPCI", "DCIRIS", "LAMBERT_X",
            "LAMBERT_Y", "QP", "QUALI_IRIS", "QUALI_QP", "QUALI_QVA", "QUALI_ZFU", "QUALI_ZUS",
            "QUALITE_XY", "QVA", "REG", "SDOM", "TYPEQU", "UU2020", "ZFU", "ZUS"]
    rows = [
        ["009", "2021", "62498", "62", "62498", "D", "246200364", "624980101", "686100.5",
         "7034100.25", "QP062033", "1", "1", "_Z", "_Z", "_Z", "Bonne", "_Z", "32", "D2",
         "D201", "62701", "_Z", "_Z"],
        ["009", "2021", "62498", "62", "62498", "C", "246200364", "624980102", "686600",
         "7034200", "HZ", "1", "1", "_Z", "_Z", "_Z", "Bonne", "_Z", "32", "C2", "C201",
         "62701", "_Z", "_Z"],
        ["009", "2021", "62498", "62", "62001", "D", "246200364", "62001", "680000",
         "7030000", "CSZ", "1", "_Z", "_Z", "_Z", "_Z", "Acceptable", "_Z", "32", "D3", "D307",
         "62701", "_Z", "_Z"],
        ["009", "2021", "62498", "62", "62498", "D", "246200364", "624980101", "", "",
         "QP062033", "3", "3", "_Z", "_Z", "_Z", "", "_Z", "32", "D2", "D232", "62701", "_Z",
         "_Z"],
    ]
    write_text("bpe21_ensemble_xy_extract.csv",
               ";".join(cols) + "\n" + "".join(";".join(r) + "\n" for r in rows))

    # Newer schema (QP2024, LONGITUDE/LATITUDE, EPSG): a row with EPSG 3950 coordinates, a row
    # with only WGS84 coordinates, a row without any coordinate.
    lon, lat = TO_WGS84.transform(686_300.0, 7_034_300.0)
    x50, y50 = Transformer.from_crs(2154, 3950, always_xy=True).transform(686_500.0, 7_034_500.0)
    cols = ["NOMRS", "SIRET", "APET", "DEPCOM", "LIBCOM", "DCIRIS", "TYPEQU", "QP2015",
            "QP2024", "QUALI_QP2024", "LAMBERT_X", "LAMBERT_Y", "LONGITUDE", "LATITUDE", "EPSG",
            "QUALITE_GEOLOC", "SECT"]
    rows = [
        ["CABINET MEDICAL EXEMPLE", "12345678900011", "86.21Z", "62498", "Lens", "624980101",
         "D265", "QP062033", "QN06224M", "1", "686100", "7034100", "", "", "2154", "11", "PR"],
        ["PHARMACIE EXEMPLE", "12345678900029", "47.73Z", "62498", "Lens", "624980102", "D307",
         "", "QN06226M", "2", f"{x50:.3f}", f"{y50:.3f}", "", "", "3950", "12", "PR"],
        ["COLLEGE EXEMPLE", "", "85.31Z", "62498", "Lens", "624980103", "C201", "", "HZ", "_Z",
         "", "", f"{lon:.8f}", f"{lat:.8f}", "", "21", "PU"],
        ["ECOLE SANS XY", "", "85.20Z", "62498", "Lens", "624980103", "C109", "", "", "_Z", "",
         "", "", "", "", "33", "PU"],
    ]
    write_text("bpe24_ensemble_xy_extract.csv",
               ";".join(cols) + "\n" + "".join(";".join(r) + "\n" for r in rows))


def rpls_files() -> None:
    # DiDo export 2025 layout: ';', UTF-8 BOM, X/Y with EPSG, PLG_QP24.
    cols = ["REG_CODE", "DEP_CODE", "EPCI_CODE", "DEPCOM", "LIBCOM", "NUMVOIE", "NOMVOIE",
            "ETAGE", "QPV_CODE", "QPV_LIBELLE", "TYPECONST_CODE", "NBPIECE", "SURFHAB",
            "CONSTRUCT", "LOCAT", "FINAN_CODE", "FINAN_LIBELLE", "DPEDATE", "DPEENERGIE",
            "DPESERRE", "EPSG", "X", "Y", "PLG_QP24", "PLG_QP15", "PLG_IRIS2024_CODE",
            "QUALITE_XY", "QUALITE_QP24"]
    rows = [
        ["32", "62", "246200364", "62498", "Lens", "12", "RUE EXEMPLE", "0", "1", "Cité 12-14",
         "C", "3", "67.5", "1972", "1973", "52", "HLM/O", "2021-05-03", "E", "E", "2154",
         "686050", "7034050", "QN06224M", "QP062033", "624980101", "11", "1"],
        ["32", "62", "246200364", "62498", "Lens", "14", "RUE EXEMPLE", "2", "1", "Cité 12-14",
         "C", "4", "81.25", "1972", "1973", "52", "HLM/O", "", "", "", "2154", "686060",
         "7034060", "QN06224M", "QP062033", "624980101", "11", "1"],
        ["32", "62", "246200364", "62510", "Liévin", "3", "RUE AUTRE", "1", "2", "", "I", "2",
         "48", "2015", "2016", "13", "PLUS", "2020-01-10", "B", "A", "2154", "680500",
         "7030500", "", "", "625100101", "12", "1"],
        ["32", "62", "246200364", "62510", "Liévin", "5", "RUE AUTRE", "0", "2", "", "I", "5",
         "95", "2015", "2016", "10", "PLAI", "", "C", "C", "", "", "", "", "", "", "", ""],
    ]
    write_text("rpls_2025_dido_extract.csv",
               "\ufeff" + ";".join(cols) + "\n" + "".join(";".join(r) + "\n" for r in rows))

    # Older regional file: ISO-8859-1, DEPCOM_CODE, FINAN, QPV, no EPSG, no PLG_QP24.
    cols = ["DEPCOM_CODE", "LIBCOM", "QPV", "TYPECONST", "NBPIECE", "SURFHAB", "CONSTRUCT",
            "FINAN", "DPEENERGIE", "X", "Y"]
    rows = [["62510", "Liévin", "1", "C", "3", "62,5", "1965", "50", "D", "680100", "7030100"],
            ["62510", "Liévin", "0", "I", "2", "45", "", "12", "", "680200", "7030200"]]
    write_text("rpls_2019_regional_latin1.csv",
               ";".join(cols) + "\n" + "".join(";".join(r) + "\n" for r in rows),
               encoding="cp1252")


def sirene_files() -> None:
    # StockEtablissement_utf8.csv layout (',' separated), synthetic SIRET numbers.
    cols = ["siren", "nic", "siret", "statutDiffusionEtablissement", "dateCreationEtablissement",
            "trancheEffectifsEtablissement", "etablissementSiege", "codeCommuneEtablissement",
            "coordonneeLambertAbscisseEtablissement", "coordonneeLambertOrdonneeEtablissement",
            "etatAdministratifEtablissement", "activitePrincipaleEtablissement",
            "nomenclatureActivitePrincipaleEtablissement"]
    rows = [
        ["012345678", "00019", "01234567800019", "O", "2018-03-15", "01", "true", "62498",
         "686120.5", "7034130", "A", "86.21Z", "NAFRev2"],
        ["123456789", "00021", "12345678900021", "O", "2009-01-05", "NN", "false", "62498",
         "686700", "7034400", "F", "47.11F", "NAFRev2"],
        ["234567890", "00013", "23456789000013", "P", "2021-11-30", "", "true", "62510",
         "[ND]", "[ND]", "A", "96.02A", "NAFRev2"],
        ["345678901", "00018", "34567890100018", "O", "", "", "true", "62510", "680700",
         "7030700", "A", "43.21A", "NAFRev2"],
    ]
    write_text("StockEtablissement_extract.csv",
               ",".join(cols) + "\n" + "".join(",".join(r) + "\n" for r in rows))
    # Geolocation file (';'), x/y Lambert-93 with epsg, plg_qp24; the ND establishment has none.
    cols = ["siret", "x", "y", "qualite_xy", "epsg", "plg_qp24", "plg_iris", "plg_zus",
            "plg_qp15", "plg_qva", "plg_code_commune", "distance_precision", "qualite_qp24",
            "qualite_iris", "qualite_zus", "qualite_qp15", "qualite_qva", "y_latitude",
            "x_longitude"]
    lon, lat = TO_WGS84.transform(686_125.0, 7_034_135.0)
    rows = [
        ["01234567800019", "686125", "7034135", "11", "2154", "QN06224M", "624980101", "",
         "QP062033", "", "62498", "5", "1", "1", "", "1", "", f"{lat:.7f}", f"{lon:.7f}"],
        ["12345678900021", "686705", "7034405", "11", "2154", "", "624980102", "", "", "",
         "62498", "5", "1", "1", "", "", "", "", ""],
        ["34567890100018", "680705", "7030705", "12", "2154", "QN06228M", "625100101", "", "",
         "", "62510", "25", "2", "2", "", "", "", "", ""],
    ]
    write_text("GeolocalisationEtablissement_extract.csv",
               ";".join(cols) + "\n" + "".join(";".join(r) + "\n" for r in rows))
    write_text(
        "StockUniteLegale_extract.csv",
        "siren,statutDiffusionUniteLegale,categorieJuridiqueUniteLegale,"
        "activitePrincipaleUniteLegale\n"
        "012345678,O,1000,86.21Z\n123456789,O,5710,47.11F\n234567890,P,1000,96.02A\n"
        "345678901,O,5499,43.21A\n",
    )


def building_files() -> None:
    # BD TOPO v3 SHP (upper-case fields); NB_LOGTS / NB_ETAGES empty on the second building.
    shp = gpd.GeoDataFrame(
        {
            "ID": ["BATIMENT0000000312345678", "BATIMENT0000000312345679"],
            "NATURE": ["Indifférenciée", "Indifférenciée"],
            "USAGE1": ["Résidentiel", "Indifférencié"],
            "USAGE2": [None, None],
            "NB_LOGTS": pd.array([12, None], dtype="Int64"),
            "NB_ETAGES": pd.array([4, None], dtype="Int64"),
            "HAUTEUR": [12.5, np.nan],
        },
        geometry=[square(X0, Y0, 20), square(X0 + 50, Y0, 10)], crs=2154,
    )
    folder = HERE / "bdtopo_shp"
    folder.mkdir(exist_ok=True)
    remove_shapefile(folder / "BATIMENT")
    shp.to_file(folder / "BATIMENT.shp", encoding="utf-8")
    # GPKG (lower-case fields, 3D polygons, layer batiment beside another layer).
    poly_z = shapely.force_3d(square(X0 + 100, Y0, 15), 35.0)
    gpkg = gpd.GeoDataFrame(
        {
            "cleabs": ["BATIMENT0000000399999991"],
            "nature": ["Indifférenciée"],
            "usage_1": ["Résidentiel"],
            "nombre_de_logements": pd.array([None], dtype="Int64"),
            "nombre_d_etages": pd.array([3], dtype="Int64"),
            "hauteur": [9.0],
        },
        geometry=[poly_z], crs=2154,
    )
    out = HERE / "bdtopo_batiment.gpkg"
    out.unlink(missing_ok=True)
    gpkg.to_file(out, layer="batiment", driver="GPKG")
    gpd.GeoDataFrame({"nom": ["Lens"]}, geometry=[square(X0, Y0, 1000)], crs=2154).to_file(
        out, layer="commune", driver="GPKG")


def main() -> None:
    qpv_layers()
    iris_layers()
    commune_layers()
    insee_tables()
    qpv_lists()
    bpe_files()
    rpls_files()
    sirene_files()
    building_files()
    size = sum(p.stat().st_size for p in HERE.rglob("*") if p.is_file())
    print(f"fixtures written to {HERE} ({size / 1024:.0f} kB)")


if __name__ == "__main__":
    main()
