-- Who created a robot, as Harbor's Robot.creator_type and creator_ref:
-- "local" and a user id, or "robot" and a robot id. Robots created before
-- this was kept have '' and 0 (the API leaves both out).
ALTER TABLE robots ADD COLUMN creator_type TEXT NOT NULL DEFAULT '';
ALTER TABLE robots ADD COLUMN creator_ref INTEGER NOT NULL DEFAULT 0;
