-- Reserved units the last count did not find. A count below what is reserved sets on_hand to
-- the reserved figure (never oversell a promise), but those units may already have left with
-- a parcel whose dispatch report is still on its way, or not exist at all. `unfound` remembers
-- how many: when reserved units leave their reservation (dispatched before the count, or
-- released), the unfound ones leave on_hand too, instead of becoming units to sell.
ALTER TABLE {schema}.stock
    ADD COLUMN unfound integer NOT NULL DEFAULT 0,
    ADD CONSTRAINT stock_unfound_reserved CHECK (unfound >= 0 AND unfound <= reserved);

-- The movement that records unfound units leaving on_hand with a released reservation.
ALTER TABLE {schema}.stock_movements
    DROP CONSTRAINT stock_movements_kind_check,
    ADD CONSTRAINT stock_movements_kind_check
        CHECK (kind IN ('load', 'count', 'dispatch', 'restock', 'write_off', 'unfound'));
