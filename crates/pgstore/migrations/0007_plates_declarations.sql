-- QR door plates (二维码门牌) and the households residents declare through them (自主申报), per
-- town, as the GeoPackage store keeps them (`gridmap_plates`, `gridmap_declarations`), so that
-- a town on PostgreSQL prints plates, serves their public page and reviews declarations.
--
-- A plate's token is random (not derived from the building): it is what the plate's URL
-- carries, and the row is where printing and scans are counted (二维码管理率). `house` is ''
-- for a building's own plate. A declaration's people (names, ID numbers, phones, relations)
-- are one value sealed under the town's register key, bound to `gridmap_declarations.people`
-- as in the GeoPackage store, so that a value written by one store opens in the other; it is
-- emptied when a worker confirms the declaration (the household is then in the registers), and
-- a rejected declaration is deleted. `id` is the declaration's number, unique in the database
-- (so that a number names one declaration of one town), in the order they arrived; a
-- declaration keeps its plate's token but no foreign key: a plate may be withdrawn.
--
-- Neither table announces its changes (no `gridmap_changed` triggers, see 0003): servers read
-- plates and declarations per request and hold nothing of them in memory, and a scan of a
-- plate (a public page, any number of times a day) must not make every other server reload
-- its town. Confirming a declaration writes `houses` and `people`, which do announce it.

CREATE TABLE plates (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    token text NOT NULL,
    building text NOT NULL,
    house text NOT NULL DEFAULT '',
    address text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    printed_at timestamptz,
    scans bigint NOT NULL DEFAULT 0,
    last_scan timestamptz,
    PRIMARY KEY (town, token),
    UNIQUE (town, building, house)
);

CREATE TABLE declarations (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id bigint GENERATED ALWAYS AS IDENTITY,
    token text NOT NULL,
    building text NOT NULL,
    house text,
    grid text,
    received_at timestamptz NOT NULL DEFAULT now(),
    room text,
    nature text,
    residence text,
    people bytea,
    people_count bigint NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    decided_at timestamptz,
    decided_by text,
    PRIMARY KEY (town, id)
);
CREATE INDEX declarations_by_status ON declarations (town, status, grid);
