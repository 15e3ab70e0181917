-- Pieces: runs of one series' samples packed like chunks (see clima_model::chunk), one row per
-- series and hour per commit. A commit writes its samples older than the recent window here
-- when each is newer than everything its series holds (a device's backlog, an import), so a
-- batch costs one b-tree insert per series instead of one per sample; rollups include them.
-- Sealing merges an hour's pieces into its chunk.

CREATE TABLE pieces (
    series_id  INTEGER NOT NULL,
    first      INTEGER NOT NULL,   -- time of its first sample; every sample lies in that hour
    count      INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (series_id, first)
) WITHOUT ROWID;
