-- A project's generation counts the changes of its keys, layouts and policies: every insert, update or delete
-- of one of their rows adds one, in the same transaction (triggers, so that no write path can forget it).
-- attestd reads it with the token on every call and keeps what it derived from those rows (the policies, the
-- keys, the active layouts, decisions) for as long as the generation is unchanged. Attestations do not touch
-- it: the log's size stands for them.

-- +goose Up
ALTER TABLE projects ADD COLUMN generation bigint NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE FUNCTION bump_project_generation() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        UPDATE projects SET generation = generation + 1 WHERE id = OLD.project_id;
    END IF;
    IF TG_OP <> 'DELETE' AND (TG_OP = 'INSERT' OR NEW.project_id <> OLD.project_id) THEN
        UPDATE projects SET generation = generation + 1 WHERE id = NEW.project_id;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER keys_bump_generation AFTER INSERT OR UPDATE OR DELETE ON keys
    FOR EACH ROW EXECUTE FUNCTION bump_project_generation();
CREATE TRIGGER layouts_bump_generation AFTER INSERT OR UPDATE OR DELETE ON layouts
    FOR EACH ROW EXECUTE FUNCTION bump_project_generation();
CREATE TRIGGER policies_bump_generation AFTER INSERT OR UPDATE OR DELETE ON policies
    FOR EACH ROW EXECUTE FUNCTION bump_project_generation();

-- +goose Down
DROP TRIGGER policies_bump_generation ON policies;
DROP TRIGGER layouts_bump_generation ON layouts;
DROP TRIGGER keys_bump_generation ON keys;
DROP FUNCTION bump_project_generation();
ALTER TABLE projects DROP COLUMN generation;
