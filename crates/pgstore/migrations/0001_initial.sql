-- gridmap on PostgreSQL/PostGIS, schema version 1: the layers of a gridmap project, for many
-- towns in one database. Every per-town table starts with `town` (the town's code), which
-- leads its primary key: the distribution column of a sharded PostgreSQL (Citus). Geometry is
-- WGS84 longitude/latitude (EPSG:4326), indexed with GiST. `fid` orders rows as they were
-- written (reads return them in that order, as the GeoPackage store does).

CREATE EXTENSION IF NOT EXISTS postgis;

CREATE TABLE town (
    town text PRIMARY KEY,
    name text NOT NULL,
    geom geometry(MultiPolygon, 4326),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX town_geom ON town USING gist (geom);

CREATE TABLE villages (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    code text NOT NULL,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL,
    parent_town text,
    geom geometry(MultiPolygon, 4326),
    PRIMARY KEY (town, code)
);
CREATE INDEX villages_geom ON villages USING gist (geom);

CREATE TABLE grids (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    code text NOT NULL,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    name text,
    village text,
    version integer NOT NULL CHECK (version > 0),
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL,
    geom geometry(MultiPolygon, 4326) NOT NULL,
    PRIMARY KEY (town, code)
);
CREATE INDEX grids_geom ON grids USING gist (geom);

-- Every version of every grid: who, when, why, and the boundary before and after.
CREATE TABLE grid_history (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    grid text NOT NULL,
    version integer NOT NULL CHECK (version > 0),
    action text NOT NULL CHECK (action IN ('created', 'updated', 'deleted', 'restored')),
    changed_at timestamptz NOT NULL DEFAULT now(),
    changed_by text NOT NULL,
    reason text NOT NULL,
    name text,
    village text,
    geom geometry(MultiPolygon, 4326),
    old_geom geometry(MultiPolygon, 4326),
    PRIMARY KEY (town, grid, version)
);
CREATE INDEX grid_history_geom ON grid_history USING gist (geom);

-- Buildings (实有房屋): footprints (multipolygons) or points.
CREATE TABLE buildings (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id text NOT NULL,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    households bigint NOT NULL CHECK (households >= 0),
    floors bigint,
    kind text,
    geom geometry(Geometry, 4326) NOT NULL,
    PRIMARY KEY (town, id)
);
CREATE INDEX buildings_geom ON buildings USING gist (geom);

-- Standard addresses (标准地址).
CREATE TABLE addresses (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id text NOT NULL,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    text text,
    grid text,
    building text,
    geom geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (town, id)
);
CREATE INDEX addresses_geom ON addresses USING gist (geom);

-- Actual organisations (实有单位).
CREATE TABLE units (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id text NOT NULL,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL,
    category text,
    address text,
    contact text,
    geom geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (town, id)
);
CREATE INDEX units_geom ON units USING gist (geom);

-- Household visits (入户走访). `visited_at` is the time as the worker's device gave it
-- (RFC 3339 with its offset), kept as text so that it comes back exactly.
CREATE TABLE visits (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id text NOT NULL,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    building text,
    house text,
    worker text NOT NULL,
    visited_at text NOT NULL,
    outcome text NOT NULL,
    note text,
    flagged boolean NOT NULL DEFAULT false,
    knows_worker boolean,
    satisfaction smallint,
    geom geometry(Point, 4326),
    PRIMARY KEY (town, id)
);
CREATE INDEX visits_geom ON visits USING gist (geom);
CREATE INDEX visits_building ON visits (town, building);

-- The basemap: roads, water and land use (lines and polygons), for drawing only. Basemap
-- features have no ids of their own: `fid` is their key.
CREATE TABLE basemap (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    layer text NOT NULL,
    kind text,
    detail text,
    name text,
    geom geometry(Geometry, 4326) NOT NULL,
    PRIMARY KEY (town, fid)
);
CREATE INDEX basemap_geom ON basemap USING gist (geom);
CREATE INDEX basemap_layer ON basemap (town, layer);
