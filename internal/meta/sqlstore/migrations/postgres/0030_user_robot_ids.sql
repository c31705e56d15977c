-- The schema change of migrations/sqlite/0030_user_robot_ids.sql. Identity
-- columns never reuse an id: nothing to change.
SELECT 1;
