-- gridmap on PostgreSQL/PostGIS, schema version 2: what the GeoPackage store keeps beside its
-- layers, per town: the users of the web app and API, their sessions, the audit log of reads
-- of personal data, the saved re-partition plans, and the household registers (houses and
-- people, with names, ID numbers, phones and remarks sealed with the register key). As in
-- version 1, every table starts with `town`, which leads its primary key: the distribution
-- column of a sharded PostgreSQL (Citus), co-located with `town`.

-- Users: a login name is unique within its town (each town's users are its own, as each
-- GeoPackage project's are). The password arrives hashed (argon2, PHC string).
CREATE TABLE users (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    username text NOT NULL,
    role text NOT NULL,
    scope text NOT NULL,
    password_hash text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (town, username)
);

-- Signed-in sessions: the SHA-256 of the token (hex), never the token.
CREATE TABLE sessions (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    token_sha256 text NOT NULL,
    username text NOT NULL,
    expires_unix bigint NOT NULL,
    PRIMARY KEY (town, token_sha256)
);
CREATE INDEX sessions_expiry ON sessions (town, expires_unix);

-- Who read personal data in clear, what, about what, how many records: never the data.
-- `seq` keeps the order entries were written in, which is the order the log is read in.
CREATE TABLE audit (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    seq bigint GENERATED ALWAYS AS IDENTITY,
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    username text NOT NULL,
    action text NOT NULL,
    target text NOT NULL,
    count bigint NOT NULL,
    PRIMARY KEY (town, seq)
);

-- Re-partition plans: a name is unique within its village. `id` is the plan's number (unique
-- in the database, so that a number names one plan of one town); `body` and `adopted` are the
-- server's JSON, kept as given (text, so that it comes back byte for byte).
CREATE TABLE plans (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    name text NOT NULL,
    village text NOT NULL,
    saved_by text NOT NULL,
    saved_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    grids bigint NOT NULL CHECK (grids >= 0),
    body text NOT NULL,
    adopted text,
    PRIMARY KEY (town, id),
    UNIQUE (town, village, name)
);

-- Per town: the register key check (the constant `gridmap register key check` sealed with the
-- key the registers were written with) and the ID fingerprint scheme. The row is locked by
-- every register write, which so runs one at a time per town.
CREATE TABLE register_meta (
    town text PRIMARY KEY REFERENCES town (town) ON DELETE CASCADE,
    key_check bytea,
    fingerprint_scheme integer
);

-- Houses (户/室): keyed by id (`h1`, `h2`… per town; `fid` is its number and the order of
-- reads), unique by normalised address. `remarks` is sealed (they may name a landlord).
CREATE TABLE houses (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id text NOT NULL,
    fid bigint NOT NULL,
    building text,
    address_key text NOT NULL,
    address text NOT NULL,
    nature text,
    remarks bytea,
    link text,
    link_reason text,
    PRIMARY KEY (town, id),
    UNIQUE (town, fid),
    UNIQUE (town, address_key)
);
CREATE INDEX houses_building ON houses (town, building);

-- People (实有人口): `name`, `id_number` and `phone` are AES-256-GCM ciphertext (bytea), never
-- clear text; `id_fingerprint` is the keyed fingerprint of the ID number, unique per town, by
-- which an import finds a person again. Ids `p1`, `p2`… per town, `fid` as for houses.
CREATE TABLE people (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id text NOT NULL,
    fid bigint NOT NULL,
    house text NOT NULL,
    name bytea NOT NULL,
    id_number bytea,
    id_fingerprint text,
    occupation text,
    employer text,
    relation text,
    marital_status text,
    hukou_match boolean,
    phone bytea,
    source_row bigint,
    residence text,
    PRIMARY KEY (town, id),
    UNIQUE (town, fid),
    UNIQUE (town, id_fingerprint),
    FOREIGN KEY (town, house) REFERENCES houses (town, id)
);
CREATE INDEX people_house ON people (town, house);
