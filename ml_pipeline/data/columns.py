"""Matching a file's headers to the event-log contract (SPEC §1): aliases and explicit mappings."""

from __future__ import annotations

import re

from ml_pipeline.errors import EventLogError

REQUIRED = ("customer_id", "event_date")
OPTIONAL = ("amount", "event_type", "category", "quantity", "order_id", "churn_label")
# Headers that name a price per unit rather than a row's total: with a quantity column, the row's
# amount is quantity x price (line-item exports such as the UCI Online Retail data).
UNIT_PRICE_HEADERS = frozenset(
    (
        "price",
        "unitprice",
        "priceeach",
        "itemprice",
        "unitcost",
        "priceperunit",
        "preis",
        "einzelpreis",
        "prix",
        "precio",
        "preciounitario",
    )
)
CANONICAL = REQUIRED + OPTIONAL

# Normalized header (lower-case, letters and digits only) -> canonical column, in priority order.
ALIASES: dict[str, tuple[str, ...]] = {
    "customer_id": (
        "customerid",
        "customer",
        "custid",
        "clientid",
        "client",
        "userid",
        "user",
        "accountid",
        "account",
        "memberid",
        "householdid",
        "household",
        "householdkey",
        "buyerid",
        "shopperid",
        "customerno",
        "customernumber",
        "contactid",
        "customeremail",
        "email",
        "emailaddress",
        "kundennummer",
        "kundenid",
        "kunde",
        "kundennr",
        "idcliente",
        "cliente",
        "klant",
        "klantnummer",
    ),
    "event_date": (
        "eventdate",
        "date",
        "invoicedate",
        "transactiondate",
        "orderdate",
        "purchasedate",
        "timestamp",
        "eventtime",
        "eventtimestamp",
        "datetime",
        "time",
        "createdat",
        "occurredat",
        "transactiontimestamp",
        "ordertimestamp",
        "day",
        "created",
        "createdutc",
        "createddate",
        "paidat",
        "processedat",
        "datum",
        "buchungsdatum",
        "bestelldatum",
        "fecha",
        "datecommande",
        "besteldatum",
    ),
    "amount": (
        "amount",
        "revenue",
        "total",
        "value",
        "salesvalue",
        "sales",
        "price",
        "spend",
        "totalamount",
        "orderamount",
        "ordervalue",
        "amountusd",
        "monetaryvalue",
        "netamount",
        "grossamount",
        "sale",
        "totalprice",
        "lineamount",
        "unitprice",
        "priceeach",
        "itemprice",
        "subtotal",
        "grandtotal",
        "umsatz",
        "betrag",
        "gesamtbetrag",
        "preis",
        "montant",
        "importe",
        "bedrag",
        "ordertotal",
        "grosssales",
        "netsales",
        "totalsales",
        "amountpaid",
        "paidamount",
        "totalpaid",
        "saleamount",
        "chargeamount",
        "linetotal",
        "itemtotal",
        "brutto",
        "gmv",
        "einzelpreis",
    ),
    "event_type": (
        "eventtype",
        "type",
        "typ",
        "event",
        "action",
        "transactiontype",
        "eventname",
        "kind",
        "status",
        "orderstatus",
        "financialstatus",
        "paymentstatus",
    ),
    "category": (
        "category",
        "department",
        "productcategory",
        "categoryname",
        "productgroup",
        "segment",
        "dept",
        "productline",
        "commodity",
        "class",
        "family",
        "warengruppe",
        "kategorie",
        "categorie",
        "categoria",
    ),
    "quantity": (
        "quantity",
        "qty",
        "units",
        "items",
        "numberofitems",
        "count",
        "numitems",
        "menge",
        "anzahl",
        "quantite",
        "cantidad",
    ),
    "order_id": (
        "invoice",
        "invoiceno",
        "invoicenumber",
        "invoiceid",
        "orderid",
        "ordernumber",
        "orderno",
        "order",
        "transactionid",
        "receiptid",
        "rechnungsnummer",
        "bestellnummer",
    ),
    "churn_label": ("churnlabel", "churn", "churned", "ischurned", "label"),
}


def normalize_header(name: str) -> str:
    """Lower-case a header and keep only letters and digits, so 'Customer ID' == 'customer_id'."""
    return re.sub(r"[^0-9a-z]", "", name.lower())


def resolve_columns(
    headers: list[str], mapping: dict[str, str] | None = None
) -> tuple[dict[str, str], list[str]]:
    """Map canonical names to the file's headers; returns (mapping, warnings).

    An explicit ``mapping`` ({canonical: header}) wins over aliases; an empty header for an
    optional field says the file has none (no alias is looked for). Raises EventLogError when a
    required column cannot be found.
    """
    mapping = dict(mapping or {})
    declined = {k for k, h in mapping.items() if h == "" and k in OPTIONAL}
    mapping = {k: h for k, h in mapping.items() if k not in declined}
    warnings: list[str] = []
    unknown = sorted(set(mapping) - set(CANONICAL))
    if unknown:
        raise EventLogError(
            f"column mapping names unknown field(s) {', '.join(unknown)}; fields are {', '.join(CANONICAL)}"
        )
    for canonical, header in mapping.items():
        if header not in headers:
            raise EventLogError(
                f"column mapping {canonical}={header}: the file has no column '{header}' "
                f"(columns: {', '.join(headers)})"
            )
    resolved = dict(mapping)
    taken = set(mapping.values())
    by_norm: dict[str, str] = {}
    for h in headers:
        by_norm.setdefault(normalize_header(h), h)
    for canonical in CANONICAL:
        if canonical in resolved or canonical in declined:
            continue
        for alias in (normalize_header(canonical), *ALIASES[canonical]):
            header = by_norm.get(alias)
            if header is not None and header not in taken:
                resolved[canonical] = header
                taken.add(header)
                break
    for canonical in ("customer_id", "event_date", "amount"):
        if canonical not in resolved and canonical not in declined:
            header = _by_name_part(headers, taken, canonical)
            if header is not None:
                resolved[canonical] = header
                taken.add(header)
                warnings.append(
                    f"read column '{header}' as {canonical} (its name says so; "
                    f"--column {canonical}=HEADER chooses another)"
                )
    for canonical, label in (("customer_id", "customer id"), ("event_date", "event date")):
        if canonical not in resolved:
            examples = ", ".join(ALIASES[canonical][:5])
            raise EventLogError(
                f"no {label} column: expected '{canonical}' or an alias ({examples}, ...); "
                f"found columns: {', '.join(headers) or '(none)'}; map one with --column {canonical}=NAME"
            )
    ignored = [h for h in headers if h not in taken]
    if ignored:
        warnings.append(
            f"ignored column(s): {', '.join(ignored[:10])}" + (" ..." if len(ignored) > 10 else "")
        )
    return resolved, warnings


# When no header is an alias: a header whose name holds one of these parts (and none of the
# excluded ones) is taken, the first in file order, with a warning naming it.
_NAME_PARTS = {
    "customer_id": (
        ("customer", "email", "client", "kunde", "buyer", "member", "account", "shopper"),
        ("name", "type", "since", "date", "segment", "count", "group"),
    ),
    "event_date": (
        ("date", "time", "created", "datum", "fecha"),
        (
            "update",
            "modif",
            "ship",
            "deliver",
            "due",
            "birth",
            "cancel",
            "refund",
            "signup",
            "first",
            "last",
            "zone",
        ),
    ),
    "amount": (
        (
            "amount",
            "total",
            "revenue",
            "sales",
            "price",
            "value",
            "betrag",
            "umsatz",
            "spend",
            "paid",
            "importe",
            "montant",
        ),
        (
            "tax",
            "fee",
            "shipping",
            "discount",
            "tip",
            "refund",
            "qty",
            "quantity",
            "count",
            "items",
            "date",
            "id",
            "number",
            "status",
        ),
    ),
}


def _by_name_part(headers: list[str], taken: set[str], canonical: str) -> str | None:
    """The first header not yet taken whose normalized name holds a part that says ``canonical``."""
    parts, excluded = _NAME_PARTS[canonical]
    for h in headers:
        norm = normalize_header(h)
        if h not in taken and any(p in norm for p in parts) and not any(x in norm for x in excluded):
            return h
    return None
