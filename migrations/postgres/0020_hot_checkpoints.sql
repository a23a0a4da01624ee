-- Leave room on each page so a checkpoint that changes no indexed column (a saga going from
-- one step to the next under the same lease) is written as a HOT update: no index entries.
ALTER TABLE sagas SET (fillfactor = 70);
