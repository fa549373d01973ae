-- Key units, places and persons (重点单位、场所、人员) of each town, as the GeoPackage store keeps
-- them (`key_subjects`): in clear only what the scorecard counts and scope decides on (the
-- subject's building and house, whether it has an attention level, who changed it when); its
-- kind, category, name, attention level and note are one value sealed under the town's
-- register key. `fid` keeps the order subjects were made in.

CREATE TABLE key_subjects (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id text NOT NULL,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    building text NOT NULL,
    house text,
    rated boolean NOT NULL,
    sealed bytea NOT NULL,
    updated_by text NOT NULL,
    updated_at text NOT NULL,
    PRIMARY KEY (town, id)
);
CREATE INDEX key_subjects_building ON key_subjects (town, building);
