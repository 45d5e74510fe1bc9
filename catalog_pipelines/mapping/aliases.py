"""Header names the mapping assistant knows, per catalog field and language.

Each alias is written as merchants write it; lookups compare `normalize(header)` with
`normalize(alias)`, so case, accents, `_`/`-`/`.` and extra spaces do not matter
(`Währung`, `waehrung`? no: `wahrung`; add spellings with `ae`/`oe`/`ue` explicitly).
"""

from __future__ import annotations

import re
import unicodedata

LANGUAGES = {"en": "English", "de": "German", "fr": "French", "es": "Spanish"}

# target -> language -> aliases. `external_id` is the mapping's `key`.
ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "external_id": {
        "en": ("id", "external id", "product id", "item id", "handle", "product key", "uid"),
        "de": ("produkt id", "artikel id", "produktid", "artikelid"),
        "fr": ("identifiant", "id produit", "identifiant produit"),
        "es": ("identificador", "id producto", "id del producto"),
    },
    "parent_external_id": {
        "en": ("parent", "parent id", "parent sku", "parent key", "parent handle"),
        "de": ("hauptartikel", "vaterartikel", "elternartikel", "hauptartikelnummer"),
        "fr": ("parent", "produit parent", "id parent"),
        "es": ("padre", "producto padre", "id padre"),
    },
    "sku": {
        "en": (
            "sku",
            "item number",
            "article number",
            "part number",
            "product number",
            "product code",
            "item code",
            "variant sku",
        ),
        "de": (
            "artikelnummer",
            "artikelnr",
            "artikel nr",
            "art nr",
            "artnr",
            "bestellnummer",
            "produktnummer",
        ),
        "fr": ("reference", "ref", "reference produit", "code article", "ugs"),
        "es": ("referencia", "codigo", "codigo articulo", "codigo de articulo", "ref"),
    },
    "name": {
        "en": ("name", "title", "product name", "product title", "item name"),
        "de": (
            "bezeichnung",
            "produktname",
            "artikelname",
            "artikelbezeichnung",
            "titel",
            "produktbezeichnung",
        ),
        "fr": ("nom", "titre", "nom du produit", "nom produit", "libelle", "designation"),
        "es": ("nombre", "titulo", "nombre del producto", "nombre producto", "denominacion"),
    },
    "description": {
        "en": (
            "description",
            "long description",
            "product description",
            "body",
            "body html",
            "details",
        ),
        "de": (
            "beschreibung",
            "langbeschreibung",
            "artikelbeschreibung",
            "produktbeschreibung",
            "langtext",
        ),
        "fr": ("description", "description longue", "descriptif", "description produit"),
        "es": ("descripcion", "descripcion larga", "descripcion del producto"),
    },
    "price": {
        "en": (
            "price",
            "regular price",
            "unit price",
            "retail price",
            "list price",
            "selling price",
        ),
        "de": ("preis", "verkaufspreis", "vk preis", "vk", "bruttopreis", "einzelpreis"),
        "fr": ("prix", "prix de vente", "tarif", "prix unitaire", "prix ttc"),
        "es": ("precio", "precio de venta", "pvp", "precio unitario"),
    },
    "currency": {
        "en": ("currency", "currency code", "iso currency"),
        "de": ("wahrung", "waehrung", "wahrungscode"),
        "fr": ("devise", "monnaie", "code devise"),
        "es": ("moneda", "divisa", "codigo de moneda"),
    },
    "inventory_quantity": {
        "en": (
            "stock",
            "quantity",
            "qty",
            "inventory",
            "stock quantity",
            "on hand",
            "inventory quantity",
            "stock level",
        ),
        "de": ("bestand", "lagerbestand", "menge", "lagermenge", "verfugbar", "anzahl"),
        "fr": ("stock", "quantite", "quantite en stock", "inventaire"),
        "es": ("existencias", "stock", "cantidad", "inventario", "unidades"),
    },
    "images": {
        "en": ("image", "images", "image url", "image src", "picture", "photo", "image link"),
        "de": ("bild", "bilder", "bild url", "bildurl", "foto", "produktbild"),
        "fr": ("image", "images", "photo", "url image", "visuel"),
        "es": ("imagen", "imagenes", "foto", "url imagen", "url de imagen"),
    },
    "url": {
        "en": ("url", "link", "product url", "permalink", "web url"),
        "de": ("link", "produkt url", "produktlink", "webadresse"),
        "fr": ("lien", "url produit", "lien produit"),
        "es": ("enlace", "url producto", "enlace producto"),
    },
    "active": {
        "en": ("active", "enabled", "published", "is active"),
        "de": ("aktiv", "veroffentlicht"),
        "fr": ("actif", "active", "publie"),
        "es": ("activo", "publicado"),
    },
    "tax_code": {
        "en": ("tax code", "tax class"),
        "de": ("steuerklasse", "steuerschlussel"),
        "fr": ("code taxe", "classe de taxe"),
        "es": ("clase de impuesto", "codigo de impuesto"),
    },
    "unit_label": {
        "en": ("unit", "unit label"),
        "de": ("einheit", "mengeneinheit"),
        "fr": ("unite",),
        "es": ("unidad",),
    },
}

# exact catalog field names as people write them (`Inventory Quantity`, `external_id`)
EXACT: dict[str, str] = {
    **{t: t for t in ALIASES},
    "key": "external_id",
}


def normalize(text: str) -> str:
    """`Währung ` -> `wahrung`; `Price_Amount` -> `price amount`: lowercase, no accents,
    punctuation as spaces."""
    decomposed = unicodedata.normalize("NFKD", text.strip().lower())
    plain = "".join(c for c in decomposed if not unicodedata.combining(c)).replace("ß", "ss")
    return " ".join(re.split(r"[^a-z0-9]+", plain)).strip()


def _alias_index() -> dict[str, tuple[str, str]]:
    """normalized alias -> (target, language); the first listing wins."""
    index: dict[str, tuple[str, str]] = {}
    for target, by_language in ALIASES.items():
        for language, aliases in by_language.items():
            for alias in aliases:
                index.setdefault(normalize(alias), (target, language))
    return index


ALIAS_INDEX: dict[str, tuple[str, str]] = _alias_index()
EXACT_INDEX: dict[str, str] = {normalize(k): v for k, v in EXACT.items()}
