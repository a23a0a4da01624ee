-- Which execution of an attempt each sample effect was (first, retry, recovered): the crash
-- tests check that a re-run after a crash reaches the action marked as a recovery.
ALTER TABLE sample_effects ADD COLUMN execution text NOT NULL DEFAULT 'first';
