"""Ids the simulators mint never read as card numbers (a refused id would lose its order)."""

import pytest
from orderflow_contracts.card_data import contains_card_number
from orderflow_ops.ids import simulated_id


def test_a_digit_run_after_the_prefix_is_glued_to_a_letter() -> None:
    assert contains_card_number("bench-4111111111111111", identifier=True), "the hazard"
    assert not contains_card_number("bench-a411111111111111", identifier=True)


def test_minted_ids_are_never_card_numbers() -> None:
    ids = [simulated_id("bench") for _ in range(20_000)]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith("bench-") and len(i) == len("bench-") + 16 for i in ids)
    assert not [i for i in ids if contains_card_number(i, identifier=True)]


@pytest.mark.parametrize("length", [0, 17])
def test_lengths_that_could_hold_a_card_number_glued_to_letters_are_refused(length: int) -> None:
    # Review (helper 119): from 18 characters on, ids such as cart-e30116237973544139 held 16
    # digits glued to a letter, which the identifier rule now refuses.
    with pytest.raises(ValueError, match="1 to 16"):
        simulated_id("x", length)
