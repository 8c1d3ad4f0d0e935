"""A returned parcel's units of a SKU no warehouse stocks are written off, not restocked."""

from orderflow_fulfillment.domain.stock import ReturnedUnits, sort_returned_parcel


def test_unknown_skus_move_from_restock_to_write_off_with_their_damaged_units() -> None:
    sorting = sort_returned_parcel(
        [
            ReturnedUnits("KNOWN", 2, "resellable"),
            ReturnedUnits("ODD", 3, "resellable"),
            ReturnedUnits("ODD", 1, "damaged"),
        ],
        {"KNOWN": 2},
    )

    moved = sorting.writing_off({"ODD", "NOT-IN-PARCEL"})

    assert moved.restock == {"KNOWN": 2}
    assert moved.write_off == {"ODD": 4}
    assert moved.beyond_authorised == sorting.beyond_authorised == {"ODD": 4}
    assert sorting.restock == {"KNOWN": 2, "ODD": 3}, "the original sorting is unchanged"
