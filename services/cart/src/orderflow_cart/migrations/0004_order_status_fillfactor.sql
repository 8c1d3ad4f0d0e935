-- An order's status row is rewritten about eight times (once per batch that holds one of its
-- events), and each version is about 2 KB. Pages filled to the brim left no room for the next
-- version beside the last, so nine updates in ten also wrote a new entry in each of the
-- table's three indexes; half-full pages keep most of them on the page, with no index write
-- (a heap-only tuple). Applies to pages written from now on.
ALTER TABLE {schema}.order_status SET (fillfactor = 50);
