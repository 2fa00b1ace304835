"""Purchases: each `purchase_id` sent once, ever, with product, currency, price, quantity and
time (Braze's "legacy purchase events", still served)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from dbt_braze.kinds.base import Builder
from dbt_braze.kinds.tracked import TrackedBuilder, TrackedKind
from dbt_braze.payloads import PURCHASES as PURCHASES_ROUTE
from dbt_braze.spec import Problem, ResolvedSync
from dbt_braze.values import MAX_PURCHASE_PROPERTIES_BYTES, MAX_STRING, InvalidValue, to_json_value

MAX_QUANTITY = 100  # purchase_object.md: quantity 1..100


class Purchases(TrackedKind):
    object = "purchases"
    noun = "purchases"
    id_field = "purchase_id"
    required = ("product_id", "currency", "price", "time")
    optional = ("quantity",)
    constant_fields = frozenset({"currency"})
    reserved = frozenset({"time", "product_id", "quantity", "event_name", "price", "currency"})

    def builder(self, model: int, resolved: ResolvedSync) -> Builder:
        return PurchasesBuilder(model, resolved, self)

    def checked_constant(self, key: str, value: str, problem: Problem) -> str:
        if not (len(value) == 3 and value.isascii() and value.isalpha()):
            problem(key, f"{value!r} is not a three-letter currency code (ISO 4217)")
        return value.upper()


class PurchasesBuilder(TrackedBuilder):
    route = PURCHASES_ROUTE
    properties_limit = MAX_PURCHASE_PROPERTIES_BYTES
    field_rules = (
        ("product_id", "text"),
        ("currency", "currency"),
        ("price", "number"),
        ("quantity", "quantity"),
    )

    def fields(self, values: tuple[Any, ...]) -> dict[str, Any]:
        product = self.value(values, "product_id")
        if product is None or str(product) == "":
            raise InvalidValue("product_id is null")
        product = str(product)
        if len(product) > MAX_STRING:
            raise InvalidValue(f"product_id of {len(product)} characters (limit {MAX_STRING})")
        currency = self.value(values, "currency")
        if (
            not isinstance(currency, str)
            or len(currency) != 3
            or not (currency.isascii() and currency.isalpha())
        ):
            raise InvalidValue(f"currency {currency!r} is not an ISO 4217 code")
        price = to_json_value(self.value(values, "price"))
        if not isinstance(price, int | float) or isinstance(price, bool):
            raise InvalidValue(f"price {price!r} is not a number")
        fields: dict[str, Any] = {
            "product_id": product,
            "currency": currency.upper(),
            "price": price,
        }
        quantity = self.value(values, "quantity")
        if quantity is not None:
            fields["quantity"] = _quantity(quantity)
        return fields

    def data_points(self, body: dict[str, Any]) -> int:
        return int(body.get("quantity", 1))  # a purchase of quantity X counts as X


def _quantity(quantity: Any) -> int:
    if isinstance(quantity, Decimal) and quantity == quantity.to_integral_value():
        quantity = int(quantity)
    if (
        not isinstance(quantity, int)
        or isinstance(quantity, bool)
        or not 1 <= quantity <= MAX_QUANTITY
    ):
        raise InvalidValue(f"quantity {quantity!r} is outside 1..{MAX_QUANTITY}")
    return quantity


PURCHASES = Purchases()
