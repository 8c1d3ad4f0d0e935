"""The contract test: the models must stay compatible with the committed v1 schemas.

`test_current_models_are_compatible_with_the_committed_schemas` is the guard; the tests after it
prove the checker really fails on each kind of breaking change (a checker that never fails
would make the guard worthless).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from orderflow_contracts import EVENT_TYPES, Event, check_compatibility
from orderflow_contracts.events import OrderPlaced
from orderflow_contracts.export import check_schemas, main, render_schema
from orderflow_contracts.schemas import all_event_schemas, event_json_schema
from pydantic import create_model

SCHEMA_DIR = Path(__file__).resolve().parents[1] / "schemas" / "v1"


def committed(event_type: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((SCHEMA_DIR / f"{event_type}.json").read_text("utf-8"))
    return document


def committed_event_types() -> list[str]:
    return sorted(path.stem for path in SCHEMA_DIR.glob("*.json"))


# ---------------------------------------------------------------------------- the guard


def test_every_published_event_still_exists() -> None:
    missing = set(committed_event_types()) - set(EVENT_TYPES)
    assert not missing, f"events removed from v1: {sorted(missing)}"


@pytest.mark.parametrize("event_type", committed_event_types())
def test_current_models_are_compatible_with_the_committed_schemas(event_type: str) -> None:
    breaking = check_compatibility(
        committed(event_type), event_json_schema(EVENT_TYPES[event_type])
    )
    assert not breaking, "\n".join(str(issue) for issue in breaking)


def test_committed_schemas_are_up_to_date() -> None:
    problems = check_schemas(SCHEMA_DIR)
    assert not problems, (
        "run `uv run orderflow-contracts export-schemas` and commit the result:\n"
        + "\n".join(problems)
    )


# ------------------------------------------------------------- the checker can fail


def _order_placed_without(field_name: str) -> type[Event]:
    """OrderPlaced as a careless edit would leave it: one field deleted."""
    fields: dict[str, Any] = {
        name: (field.annotation, field)
        for name, field in OrderPlaced.model_fields.items()
        if name != field_name
    }
    model: type[Event] = create_model(
        "OrderPlaced",
        __base__=Event,
        __doc__=OrderPlaced.__doc__,
        topic=(ClassVar[str], "orders"),
        key_field=(ClassVar[str], "order_id"),
        **fields,
    )
    return model


def test_removing_a_field_of_order_placed_is_reported() -> None:
    trimmed = _order_placed_without("shipping_fee")
    assert "shipping_fee" not in trimmed.model_fields
    breaking = check_compatibility(committed("OrderPlaced"), event_json_schema(trimmed))
    assert [(issue.path, issue.kind) for issue in breaking] == [
        ("data.shipping_fee", "property_removed")
    ]
    assert str(breaking[0]) == "data.shipping_fee: property_removed: property was removed"


def test_removing_a_field_fails_the_export_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for path in SCHEMA_DIR.glob("*.json"):
        (tmp_path / path.name).write_text(path.read_text("utf-8"), "utf-8")
    assert main(["export-schemas", str(tmp_path), "--check"]) == 0
    # Pretend the committed schema had a field the model no longer has.
    schema = committed("OrderPlaced")
    schema["$defs"]["OrderPlaced"]["properties"]["gift_wrap"] = {"type": "boolean"}
    (tmp_path / "OrderPlaced.json").write_text(render_schema(schema), "utf-8")
    assert main(["export-schemas", str(tmp_path), "--check"]) == 1
    assert "OrderPlaced.json: INCOMPATIBLE: data.gift_wrap: property_removed" in (
        capsys.readouterr().err
    )


def _edited(edit: Any) -> list[tuple[str, str]]:
    old = committed("OrderPlaced")
    new = copy.deepcopy(old)
    edit(new["$defs"])
    return [(issue.path, issue.kind) for issue in check_compatibility(old, new)]


def test_a_retyped_property_is_reported() -> None:
    def retype(defs: dict[str, Any]) -> None:
        defs["OrderLine"]["properties"]["quantity"] = {"type": "string"}

    assert _edited(retype) == [("data.lines[].quantity", "type_changed")]


def test_a_property_made_nullable_is_reported() -> None:
    def nullable(defs: dict[str, Any]) -> None:
        defs["OrderPlaced"]["properties"]["email"] = {
            "anyOf": [defs["OrderPlaced"]["properties"]["email"], {"type": "null"}]
        }

    assert _edited(nullable) == [("data.email", "type_changed")]


def test_a_new_required_property_is_reported_and_a_new_optional_one_is_not() -> None:
    def optional(defs: dict[str, Any]) -> None:
        defs["OrderPlaced"]["properties"]["gift_message"] = {"type": "string"}

    def required(defs: dict[str, Any]) -> None:
        optional(defs)
        defs["OrderPlaced"]["required"].append("gift_message")

    assert _edited(optional) == []
    assert _edited(required) == [("data.gift_message", "required_added")]


def test_a_required_property_made_optional_is_reported() -> None:
    def relax(defs: dict[str, Any]) -> None:
        defs["OrderPlaced"]["required"].remove("email")

    assert _edited(relax) == [("data.email", "required_removed")]


def test_a_removed_enum_value_is_reported() -> None:
    def drop_paypal(defs: dict[str, Any]) -> None:
        method = defs["PaymentMethodRef"]["properties"]["method"]
        method["enum"].remove("paypal")

    assert _edited(drop_paypal) == [("data.payment.method", "enum_value_removed")]


def test_a_tightened_constraint_is_reported_and_a_loosened_one_is_not() -> None:
    def tighten(defs: dict[str, Any]) -> None:
        defs["OrderLine"]["properties"]["quantity"]["maximum"] = 99

    def loosen(defs: dict[str, Any]) -> None:
        defs["OrderLine"]["properties"]["quantity"]["maximum"] = 1_000_000

    assert _edited(tighten) == [("data.lines[].quantity", "constraint_tightened")]
    assert _edited(loosen) == []


def test_moving_an_event_to_another_topic_or_key_is_reported() -> None:
    old = committed("OrderPlaced")
    new = {**old, "x-orderflow-topic": "payments", "x-orderflow-key": "cart_id"}
    assert [issue.kind for issue in check_compatibility(old, new)] == [
        "routing_changed",
        "routing_changed",
    ]


def test_documentation_changes_are_compatible() -> None:
    def reword(defs: dict[str, Any]) -> None:
        defs["OrderPlaced"]["description"] = "Reworded."
        defs["Money"]["title"] = "Amount"

    assert _edited(reword) == []


def test_schema_of_every_event_is_self_compatible() -> None:
    for schema in all_event_schemas().values():
        assert check_compatibility(schema, schema) == []


# ------------------------------------------------------------------------ export command


def test_export_writes_deterministic_files(tmp_path: Path) -> None:
    assert main(["export-schemas", str(tmp_path)]) == 0
    first = {path.name: path.read_bytes() for path in tmp_path.glob("*.json")}
    assert len(first) == len(EVENT_TYPES)
    assert main(["export-schemas", str(tmp_path)]) == 0
    assert first == {path.name: path.read_bytes() for path in tmp_path.glob("*.json")}
    schema = json.loads(first["OrderPlaced.json"])
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["x-orderflow-topic"] == "orders"
    assert schema["properties"]["event_type"]["const"] == "OrderPlaced"
    assert schema["properties"]["data"]["$ref"] == "#/$defs/OrderPlaced"


def test_export_check_reports_missing_and_extra_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export-schemas", str(tmp_path), "--check"]) == 1
    assert "OrderPlaced.json: missing" in capsys.readouterr().err
    main(["export-schemas", str(tmp_path)])
    (tmp_path / "OrderTeleported.json").write_text("{}", "utf-8")
    assert main(["export-schemas", str(tmp_path), "--check"]) == 1
    assert "OrderTeleported.json: no event produces it" in capsys.readouterr().err
