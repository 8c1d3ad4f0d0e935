"""One override of the after-sales policy changes what the returns service applies and what the
cart's order status shows alike; the returns service's former, returns-only names are refused
by both, so they can never make the two disagree."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from orderflow_cart.bootstrap import dependencies as cart_dependencies
from orderflow_cart.order_status.handlers import order_status, project_order_event
from orderflow_cart.settings import CartSettings
from orderflow_chassis.wiring import inject
from orderflow_contracts.policies import PolicySettingsError, add_months
from orderflow_returns.bootstrap import service_dependencies as returns_dependencies
from orderflow_returns.domain.policy import ReturnsPolicy
from orderflow_returns.settings import ReturnsSettings

from services.cart.tests.fakes import fake_transactions
from services.cart.tests.order_events import OrderJourney, envelopes

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def overridden(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    terms = tmp_path / "warranty.toml"
    terms.write_text('default_months = 6\ndefault_basis = "six months everywhere"\n')
    monkeypatch.setenv("AFTER_SALES_RETURN_WINDOW_DAYS", "14")
    monkeypatch.setenv("AFTER_SALES_TIME_ZONE", "Europe/Berlin")
    monkeypatch.setenv("AFTER_SALES_WARRANTY_POLICY_FILE", str(terms))


@pytest.mark.usefixtures("overridden")
async def test_an_override_changes_what_returns_applies_and_what_the_storefront_is_shown() -> None:
    applied = returns_dependencies(ReturnsSettings())["policy"]
    assert isinstance(applied, ReturnsPolicy)

    tx = fake_transactions(seeded=False)
    project = inject(project_order_event, cart_dependencies(CartSettings()))
    journey = OrderJourney("override")
    for envelope in envelopes(journey.happy_path()):
        await project(envelope.parse_event(), tx.unit(cause=envelope))
    async with tx.begin(read_only=True) as uow:
        shown = await order_status(journey.order_id, uow)
    assert shown is not None

    delivered_at = journey.delivered(0).delivered_at
    delivery_day = delivered_at.astimezone(BERLIN).date()
    window_end = delivery_day + timedelta(days=14)
    warranty_end = add_months(delivery_day, 6)
    # Returns applies the override ...
    assert applied.window.last_day(delivered_at) == window_end
    assert applied.warranty.term_for("DE").months == 6
    # ... and the storefront is shown the same dates.
    assert shown.view["return_window_ends_on"] == window_end.isoformat()
    assert {
        (line["return_window_ends_on"], line["warranty_country"], line["warranty_ends_on"])
        for line in shown.view["lines"]
    } == {(window_end.isoformat(), "DE", warranty_end.isoformat())}


@pytest.mark.parametrize(
    ("retired", "value", "replacement"),
    [
        ("RETURNS_RETURN_WINDOW_DAYS", "14", "AFTER_SALES_RETURN_WINDOW_DAYS"),
        ("RETURNS_WINDOW_TIME_ZONE", "Europe/Berlin", "AFTER_SALES_TIME_ZONE"),
        ("RETURNS_WARRANTY_POLICY_FILE", "/etc/terms.toml", "AFTER_SALES_WARRANTY_POLICY_FILE"),
    ],
)
def test_the_former_returns_only_names_are_refused_by_both_services_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch, retired: str, value: str, replacement: str
) -> None:
    monkeypatch.setenv(retired, value)
    with pytest.raises(PolicySettingsError, match=f"{retired} \\(now {replacement}\\)"):
        returns_dependencies(ReturnsSettings())
    with pytest.raises(PolicySettingsError, match=f"{retired} \\(now {replacement}\\)"):
        cart_dependencies(CartSettings())
