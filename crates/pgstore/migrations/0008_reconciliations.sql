-- Reconciliations with the police register (同增同减) of each town, as the GeoPackage store
-- keeps them (`gridmap_reconciliations`, `gridmap_tasks`): the figures of every run per grid,
-- which the scorecard's consistency rate reads (the latest run), and the tasks for grid workers
-- that police-only people make (visit the address). Same columns and meanings as there, so that
-- a whole-town copy carries them as they are. Nothing here is sealed, as nothing there is: a
-- task names the grid, the address, the house where known, the extract it came from and the
-- person's keyed ID fingerprint, never a name or an ID number. Times are text, UTC RFC 3339,
-- as the GeoPackage store writes them and a copy brings them.

-- Each run's figures, a row per grid (`(unassigned)` for people in no grid). `run` counts the
-- town's runs from 1; `fid` keeps the order rows were written in.
CREATE TABLE reconciliations (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    fid bigint GENERATED ALWAYS AS IDENTITY,
    run bigint NOT NULL,
    at text NOT NULL,
    source text NOT NULL,
    grid text NOT NULL,
    matched bigint NOT NULL,
    matched_same_address bigint NOT NULL,
    police_only bigint NOT NULL,
    register_only bigint NOT NULL,
    address_mismatch bigint NOT NULL,
    PRIMARY KEY (town, fid)
);
CREATE INDEX reconciliations_run ON reconciliations (town, run);

-- Tasks for grid workers: `id` is the task's number within its town (1, 2… as in a GeoPackage
-- project, so that a moved town keeps them); `kind` `police_only`: visit the address;
-- `subject` is the person's keyed ID fingerprint, by which a run finds their open task.
CREATE TABLE tasks (
    town text NOT NULL REFERENCES town (town) ON DELETE CASCADE,
    id bigint NOT NULL,
    grid text,
    kind text NOT NULL,
    address text,
    house text,
    subject text,
    created text NOT NULL,
    source text NOT NULL,
    done boolean NOT NULL DEFAULT false,
    PRIMARY KEY (town, id)
);
CREATE INDEX tasks_grid ON tasks (town, grid, done);
CREATE INDEX tasks_subject ON tasks (town, kind, subject);
