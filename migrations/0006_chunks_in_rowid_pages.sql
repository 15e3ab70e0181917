-- Chunks move to a rowid table. In a WITHOUT ROWID table a record over about 1,000 bytes (a
-- 4 KiB page's limit for an index cell) spills its tail into an overflow page of its own, so a
-- chunk of 1-4 KB, a 10 s sensor's hour, took a whole extra page: two thirds of the chunk pages
-- were empty. A rowid table keeps records up to about 4,000 bytes in its leaf pages; the key
-- becomes a unique index.

CREATE TABLE chunks_packed (
    series_id  INTEGER NOT NULL,
    start      INTEGER NOT NULL,   -- start of the hour, unix ms
    count      INTEGER NOT NULL,
    data       BLOB    NOT NULL
);
INSERT INTO chunks_packed (series_id, start, count, data)
    SELECT series_id, start, count, data FROM chunks ORDER BY series_id, start;
DROP TABLE chunks;
ALTER TABLE chunks_packed RENAME TO chunks;
CREATE UNIQUE INDEX chunks_key ON chunks (series_id, start);
