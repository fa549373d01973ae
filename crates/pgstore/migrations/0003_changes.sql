-- Every committed change of a town's data announces itself (several gridmap instances serving
-- one database stay consistent by listening): `town.changes` counts the statements that changed
-- the town's data, and each such statement sends
--   pg_notify('gridmap_changes', '{"town": …, "changes": n, "kind": "visits"|"other", "fid": …}')
-- (`fid`: the highest visit fid a "visits" statement added; null otherwise). PostgreSQL delivers
-- notifications at commit, in commit order; a rolled-back statement neither counts nor
-- announces. The counter is bumped under the town row's lock, so it is gapless in commit order:
-- a listener that sees n + 2 after n, or reads a counter ahead of what it heard, missed one.
--
-- Sessions and the audit log change no served state and are not announced. Inserted visits
-- are "visits" (a listener may take them in without a reload); any other change, a visit
-- updated or deleted included, is "other".

ALTER TABLE town ADD COLUMN changes bigint NOT NULL DEFAULT 0;

CREATE FUNCTION gridmap_announce(p_town text, p_kind text, p_fid bigint) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
BEGIN
    UPDATE town SET changes = changes + 1 WHERE town.town = p_town RETURNING changes INTO n;
    IF FOUND THEN
        PERFORM pg_notify('gridmap_changes',
            json_build_object('town', p_town, 'changes', n, 'kind', p_kind, 'fid', p_fid)::text);
    END IF;
END
$$;

-- Statement level: one announcement per statement and town, whatever its number of rows.
CREATE FUNCTION gridmap_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    -- The counter's own update of `town` is no change of its own.
    IF TG_TABLE_NAME = 'town' AND pg_trigger_depth() > 1 THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        FOR r IN SELECT DISTINCT town FROM new_rows LOOP
            PERFORM gridmap_announce(r.town, 'other', NULL);
        END LOOP;
    ELSIF TG_OP = 'UPDATE' THEN
        FOR r IN SELECT town FROM new_rows UNION SELECT town FROM old_rows LOOP
            PERFORM gridmap_announce(r.town, 'other', NULL);
        END LOOP;
    ELSE
        FOR r IN SELECT DISTINCT town FROM old_rows LOOP
            PERFORM gridmap_announce(r.town, 'other', NULL);
        END LOOP;
    END IF;
    RETURN NULL;
END
$$;

CREATE FUNCTION gridmap_visits_added() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN SELECT town, max(fid) AS fid FROM new_rows GROUP BY town LOOP
        PERFORM gridmap_announce(r.town, 'visits', r.fid);
    END LOOP;
    RETURN NULL;
END
$$;

-- A trigger with transition tables takes one event: three per table.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['villages', 'grids', 'grid_history', 'buildings', 'addresses',
            'units', 'visits', 'basemap', 'users', 'plans', 'register_meta', 'houses', 'people']
    LOOP
        EXECUTE format('CREATE TRIGGER %I AFTER INSERT ON %I REFERENCING NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION %I()',
                       t || '_inserted', t,
                       CASE WHEN t = 'visits' THEN 'gridmap_visits_added' ELSE 'gridmap_changed' END);
        EXECUTE format('CREATE TRIGGER %I AFTER UPDATE ON %I
                        REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION gridmap_changed()', t || '_updated', t);
        EXECUTE format('CREATE TRIGGER %I AFTER DELETE ON %I REFERENCING OLD TABLE AS old_rows
                        FOR EACH STATEMENT EXECUTE FUNCTION gridmap_changed()', t || '_deleted', t);
    END LOOP;
END
$$;

-- The town's own name and boundary.
CREATE TRIGGER town_updated AFTER UPDATE ON town
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION gridmap_changed();
