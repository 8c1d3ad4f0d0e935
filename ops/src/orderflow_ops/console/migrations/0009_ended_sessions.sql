-- Sessions logged out of, until they would have expired: a copy of such a session's cookie
-- (a shared machine, a proxy's log) proves nothing, on any instance of the console.
CREATE TABLE {schema}.ended_sessions (
    nonce text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);
