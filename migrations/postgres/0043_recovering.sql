-- Set when a saga's next attempt may already have run without its outcome being recorded:
-- the claim that took over an expired lease sets it, as does a release of a step cut short
-- and an operator's write (retry, resume, cancel). The holder's checkpoint
-- clears it. The worker hands it to the action as `Execution::Recovered`.
ALTER TABLE sagas ADD COLUMN recovering boolean NOT NULL DEFAULT false;
