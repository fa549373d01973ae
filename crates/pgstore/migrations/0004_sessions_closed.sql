-- A session closed before it lapsed (a sign-out) is announced, so that every server serving the
-- town drops the sessions it holds in memory and asks the database again: a token signed out on
-- one server stops working on the others at once. Sessions change no served state, so the
-- town's change counter is not bumped: the note carries the counter as it is, with the kind
-- "sessions". Sessions deleted because they had lapsed (on the next sign-in) are not announced.

CREATE FUNCTION gridmap_sessions_closed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT DISTINCT c.town FROM closed_rows c
             WHERE c.expires_unix > extract(epoch FROM now())::bigint LOOP
        PERFORM pg_notify('gridmap_changes',
            json_build_object('town', r.town,
                              'changes', (SELECT t.changes FROM town t WHERE t.town = r.town),
                              'kind', 'sessions', 'fid', NULL)::text);
    END LOOP;
    RETURN NULL;
END
$$;

CREATE TRIGGER sessions_closed AFTER DELETE ON sessions REFERENCING OLD TABLE AS closed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_sessions_closed();
