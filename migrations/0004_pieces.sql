-- Pieces: runs of one series' samples packed like chunks (see clima_model::chunk), one row per
-- series and hour per commit. Rows leaving recent_samples are packed here, and so are a
-- commit's samples older than the recent window that are newer than everything their series
-- holds (a device's backlog, an import): a batch costs one b-tree insert per series and hour
-- instead of one per sample. Keyed by time first, so a commit's pieces append at one end of the
-- b-tree instead of dirtying one page per series. Rollups include them; sealing merges an
-- hour's pieces into one chunk per series.

CREATE TABLE pieces (
    first      INTEGER NOT NULL,   -- time of its first sample; every sample lies in that hour
    series_id  INTEGER NOT NULL,
    count      INTEGER NOT NULL,
    data       BLOB    NOT NULL,
    PRIMARY KEY (first, series_id)
) WITHOUT ROWID;
