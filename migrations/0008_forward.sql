-- Forwarding: every sample a commit stores is appended to `forward_log` in commit order (while
-- at least one forwarder runs), and each forwarder keeps in `forwarders` the last entry its
-- target acknowledged. Entries every forwarder has passed are deleted, and so are entries past
-- raw retention; sequence numbers are never reused (AUTOINCREMENT), so a gap after a cursor is
-- exactly what retention removed.

CREATE TABLE forward_log (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    series_id    INTEGER NOT NULL,
    measured_at  INTEGER NOT NULL,   -- unix ms
    value        REAL    NOT NULL
);

CREATE TABLE forwarders (
    id      INTEGER PRIMARY KEY,
    target  TEXT    NOT NULL UNIQUE,   -- the target's address without its credentials
    url     TEXT,                      -- as added in Settings (credentials included); NULL for --forward
    cursor  INTEGER NOT NULL           -- the last forward_log seq the target acknowledged
);
