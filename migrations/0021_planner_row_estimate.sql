-- migrate:up
-- The planner's estimate of how many rows a query returns, read from its EXPLAIN without
-- running it (a planning step, no scan): what a list's total is beyond the 1,000 rows it
-- counts exactly (SPEC 1.8, domain/paging.py). As a function, a page's own statement asks
-- for it only when its count went beyond that cap, instead of a round trip of its own.
-- Volatile, as PostgreSQL requires of a function running EXPLAIN. Callers pass statements
-- of their own making (a list's FROM clause), never user input.
CREATE FUNCTION planner_row_estimate(query text) RETURNS bigint
    LANGUAGE plpgsql AS $$
DECLARE
    plan json;
BEGIN
    EXECUTE 'EXPLAIN (FORMAT JSON) ' || query INTO plan;
    RETURN round((plan -> 0 -> 'Plan' ->> 'Plan Rows')::numeric);
END;
$$;
