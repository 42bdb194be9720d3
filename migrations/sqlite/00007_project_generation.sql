-- A project's generation counts the changes of its keys, layouts and policies, as in
-- postgres/00007_project_generation.sql: every insert, update or delete of one of their rows adds one, in the
-- same transaction, by triggers.

-- +goose Up
ALTER TABLE projects ADD COLUMN generation INTEGER NOT NULL DEFAULT 0;

-- +goose StatementBegin
CREATE TRIGGER keys_generation_insert AFTER INSERT ON keys BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id = NEW.project_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER keys_generation_update AFTER UPDATE ON keys BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id IN (OLD.project_id, NEW.project_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER keys_generation_delete AFTER DELETE ON keys BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id = OLD.project_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER layouts_generation_insert AFTER INSERT ON layouts BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id = NEW.project_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER layouts_generation_update AFTER UPDATE ON layouts BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id IN (OLD.project_id, NEW.project_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER layouts_generation_delete AFTER DELETE ON layouts BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id = OLD.project_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER policies_generation_insert AFTER INSERT ON policies BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id = NEW.project_id;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER policies_generation_update AFTER UPDATE ON policies BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id IN (OLD.project_id, NEW.project_id);
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER policies_generation_delete AFTER DELETE ON policies BEGIN
    UPDATE projects SET generation = generation + 1 WHERE id = OLD.project_id;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER policies_generation_delete;
DROP TRIGGER policies_generation_update;
DROP TRIGGER policies_generation_insert;
DROP TRIGGER layouts_generation_delete;
DROP TRIGGER layouts_generation_update;
DROP TRIGGER layouts_generation_insert;
DROP TRIGGER keys_generation_delete;
DROP TRIGGER keys_generation_update;
DROP TRIGGER keys_generation_insert;
ALTER TABLE projects DROP COLUMN generation;
