-- The schema change of migrations/sqlite/0010_robot_creator.sql.
ALTER TABLE robots ADD COLUMN creator_type TEXT NOT NULL DEFAULT '';
ALTER TABLE robots ADD COLUMN creator_ref BIGINT NOT NULL DEFAULT 0;
