-- migrate:up
-- Room on each clients page for a quarter of its rows to change status in one daily run
-- (SPEC 9.1–9.3) as HOT updates. At 80 % (migration 0018) a page holds ~23 clients and room
-- for ~4.6 new row versions, so where more than that changed the rest went to other pages,
-- writing every index of clients. Measured at 1,000,000 clients, 249,498 status changes,
-- right after a checkpoint: at 80 % 217,376 HOT updates, 631 MB of WAL, 4.7 s; at 70 %
-- 248,593 HOT, 335 MB, 2.5 s; at 65 % no better (2.4 s) for 9 % more table. The table grows
-- from 338 to 377 MB. Pages written before keep their fill until rewritten (VACUUM FULL
-- clients, or pg_repack without the lock).
ALTER TABLE clients SET (fillfactor = 70);
