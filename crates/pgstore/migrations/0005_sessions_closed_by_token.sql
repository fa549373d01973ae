-- A sign-out's note names the sessions it closed (the SHA-256 of each token, as the sessions
-- table keeps them), so that the other servers drop those sessions only instead of every
-- session they hold. A statement closing more than 50 live sessions at once (a user removed
-- with many, a clean-up) names none: the servers then drop all they hold, as before, and the
-- note stays far below pg_notify's 8,000-byte limit.

CREATE OR REPLACE FUNCTION gridmap_sessions_closed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT c.town, count(*) AS n, json_agg(c.token_sha256) AS tokens
             FROM closed_rows c
             WHERE c.expires_unix > extract(epoch FROM now())::bigint
             GROUP BY c.town LOOP
        PERFORM pg_notify('gridmap_changes',
            json_build_object('town', r.town,
                              'changes', (SELECT t.changes FROM town t WHERE t.town = r.town),
                              'kind', 'sessions', 'fid', NULL,
                              'tokens', CASE WHEN r.n <= 50 THEN r.tokens END)::text);
    END LOOP;
    RETURN NULL;
END
$$;
