-- migrate:up
-- A client list's totalCount beyond its cap (domain.paging.TOTAL_COUNT_CAP) is the planner's
-- estimate; for a search, the share of the sampled search_text values that contain the
-- fragment. PostgreSQL's default sample (a histogram of 100 values) makes a fragment shared
-- by 2% of the clients come out anywhere between 0% and 5%; 1,000 values bring the error to
-- about ±20% of the figure (docs/scale.md). ANALYZE applies it now (about 5 s at 1,000,000
-- clients; no lock beyond what a routine ANALYZE takes) rather than at the next autovacuum.
ALTER TABLE clients ALTER COLUMN search_text SET STATISTICS 1000;
ANALYZE clients (search_text);
