-- Alerts: the rules, each (rule, series) state that is not plainly ok or was told firing, the
-- history of fired and resolved alerts (bounded), the webhooks added in Settings, and the
-- webhook deliveries not yet made (kept until delivered or given up after an hour).

CREATE TABLE alert_rules (
    id    INTEGER PRIMARY KEY AUTOINCREMENT,
    rule  TEXT    NOT NULL   -- the rule as the API shows it (JSON)
);

CREATE TABLE alert_states (
    rule_id      INTEGER NOT NULL,
    sensor       TEXT    NOT NULL,
    metric       TEXT    NOT NULL,   -- empty for an offline rule
    state        TEXT    NOT NULL,   -- ok, pending, firing
    since        INTEGER NOT NULL,   -- unix ms: when the state's condition began
    value        REAL,
    told_firing  INTEGER NOT NULL,   -- whether firing was notified (so a restart does not again)
    PRIMARY KEY (rule_id, sensor, metric)
) WITHOUT ROWID;

CREATE TABLE alert_history (
    id       INTEGER PRIMARY KEY AUTOINCREMENT,
    rule_id  INTEGER NOT NULL,
    rule     TEXT    NOT NULL,       -- the rule's title when it happened
    reason   TEXT    NOT NULL,       -- the rule's numbers and the value, in words
    sensor   TEXT    NOT NULL,
    metric   TEXT    NOT NULL,
    state    TEXT    NOT NULL,       -- firing, or ok (resolved)
    since    INTEGER NOT NULL,
    at       INTEGER NOT NULL,
    value    REAL,
    told     INTEGER NOT NULL        -- notified (0: a backlog's change, recorded only)
);

CREATE TABLE alert_webhooks (
    id   INTEGER PRIMARY KEY AUTOINCREMENT,
    url  TEXT    NOT NULL UNIQUE     -- as added in Settings, credentials included
);

CREATE TABLE alert_deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,   -- delivery order
    url         TEXT    NOT NULL,
    notice      TEXT    NOT NULL,    -- the notice as JSON
    created_at  INTEGER NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    next_at     INTEGER NOT NULL,
    last_error  TEXT
);
