-- What the archive says about each observation, and what happened to every requested slot
-- that did not land.
--
-- images gains the header keywords users select on (every Helioviewer JP2 carries them in
-- its XML box; null for APOD and for a header without them):
--   exposure_s    EXPTIME, seconds (AIA; HMI observables have none)
--   t_obs         T_OBS, mid-exposure time in UTC (HMI's TAI times converted)
--   wavelength_a  WAVELNTH, angstrom
--   quality       the QUALITY word as an unsigned 32-bit integer (JSOC's bit definitions:
--                 nasaflow.images.quality)
ALTER TABLE images
    ADD COLUMN exposure_s   double precision,
    ADD COLUMN t_obs        timestamptz,
    ADD COLUMN wavelength_a double precision,
    ADD COLUMN quality      bigint CHECK (quality BETWEEN 0 AND 4294967295);

-- One row per requested time (slot) of a channel that has no landed image, with why:
--   pending  after the source's newest indexed image when the run planned it: later runs
--            ask again until it is served (the row is then deleted as its image registers)
--            or the source's newest image has been past it for NASAFLOW_LATE_DATA_ABSENT_HOURS
--   absent   the source caught up long ago and still has nothing within tolerance
--   missing  the source indexes an image there but cannot serve its file
--   skipped  the image's QUALITY has a bad-data bit (NASAFLOW_QUALITY_SKIP)
-- Gaps of a source that has nothing near a slot are not rows: the plan logs them.
CREATE TABLE unlanded_slots (
    source             text NOT NULL,
    instrument         text NOT NULL,
    wavelength         text NOT NULL,
    slot_at            timestamptz NOT NULL,
    status             text NOT NULL CHECK (status IN ('pending', 'absent', 'missing', 'skipped')),
    reason             text NOT NULL,
    tolerance_seconds  integer NOT NULL CHECK (tolerance_seconds >= 0),
    image_id           text,                  -- the image the source named, when it did
    run_id             text,                  -- the run that recorded the row last
    recorded_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, instrument, wavelength, slot_at)
);
CREATE INDEX unlanded_slots_pending_idx ON unlanded_slots (wavelength, slot_at)
    WHERE status = 'pending';
