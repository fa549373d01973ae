-- The org tree above the town: provinces, cities and districts (省、市、区县) by their national
-- administrative division codes (GB/T 2260: 2, 4 and 6 digits). The tree follows the codes: a
-- division lies under the divisions whose codes begin its own, and a town (乡镇/街道, 9 digits in
-- the national statistical division codes) under those that begin its code. A small table read
-- everywhere: in Citus, a reference table.
CREATE TABLE division (
    code text PRIMARY KEY CHECK (code ~ '^([0-9]{2}){1,3}$'),
    name text NOT NULL
);

-- Users scoped at a division (a district's supervisor, a city's committee): they sign in on
-- the server of any town under their division and reach the whole town there, as the town's
-- own town-wide users do; they compare the division's towns (`GET /api/towns`). A town's own
-- user with the same name is the one that signs in there. A reference table in Citus.
CREATE TABLE division_users (
    division text NOT NULL REFERENCES division (code) ON DELETE CASCADE,
    username text NOT NULL,
    role text NOT NULL CHECK (role IN ('town_supervisor', 'planner')),
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (division, username)
);

-- A change of division users is a change of the users of every town under the division: the
-- servers of those towns hear of it as of a change of their own users.
CREATE FUNCTION gridmap_division_users_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT t.town FROM town t
             WHERE EXISTS (SELECT 1 FROM changed_rows c WHERE t.town LIKE c.division || '%') LOOP
        PERFORM gridmap_announce(r.town, 'other', NULL);
    END LOOP;
    RETURN NULL;
END
$$;
CREATE TRIGGER division_users_inserted AFTER INSERT ON division_users
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_division_users_changed();
CREATE TRIGGER division_users_deleted AFTER DELETE ON division_users
    REFERENCING OLD TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_division_users_changed();
CREATE TRIGGER division_users_updated AFTER UPDATE ON division_users
    REFERENCING NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_division_users_changed();

-- The instant of an RFC 3339 text, NULL when it is not one: the latest visit of a building is
-- the one with the latest instant (a time that does not parse counts as earliest), as the
-- servers count it.
CREATE FUNCTION gridmap_instant(t text) RETURNS timestamptz LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    RETURN t::timestamptz;
EXCEPTION WHEN others THEN
    RETURN NULL;
END
$$;
