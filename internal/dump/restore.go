package dump

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// Check reads the whole backup in r and returns its manifest if the backup is complete and intact: every
// member is listed in the manifest with its size and SHA-256, the database export parses, ends with its
// watermark and tallies as the manifest says, and the log's key pair is there. It writes nothing.
func Check(r io.Reader) (Manifest, error) {
	var m Manifest
	var tally Tally
	var sawDatabase bool
	data := map[string]bool{}
	files, raw, err := members(r, nil, func(name, kind string, body io.Reader) error {
		switch kind {
		case databaseMember:
			if sawDatabase {
				return fmt.Errorf("two %s members", databaseMember)
			}
			sawDatabase = true
			return readExport(body, func(rec Record) error { return tally.Add(rec) })
		case dataPrefix:
			data[strings.TrimPrefix(name, dataPrefix)] = true
		}
		return nil
	})
	if err != nil {
		return m, fmt.Errorf("check backup: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return m, fmt.Errorf("check backup: manifest: %w", err)
	}
	switch {
	case m.Format != FormatV1:
		return m, fmt.Errorf("check backup: format %q, this attestd reads %q", m.Format, FormatV1)
	case !slices.Equal(files, m.Files):
		return m, errors.New("check backup: the members differ from the manifest's list")
	case !sawDatabase:
		return m, fmt.Errorf("check backup: no %s", databaseMember)
	case !data[tlog.KeyFile] || !data[tlog.PubFile]:
		return m, errors.New("check backup: the log's key pair is missing")
	}
	if diff := Diff(tally.Counts(), m.Database.Records); len(diff) > 0 {
		return m, fmt.Errorf("check backup: the database export differs from the manifest: %s", strings.Join(diff, "; "))
	}
	return m, nil
}

// readExport reads an export, checking that it ends with its watermark.
func readExport(r io.Reader, yield func(Record) error) error {
	var last string
	err := Read(r, func(rec Record) error {
		if last == KindWatermark {
			return fmt.Errorf("%s record after the watermark", rec.Kind)
		}
		last = rec.Kind
		return yield(rec)
	})
	if err != nil {
		return err
	}
	if last != KindWatermark {
		return errors.New("the database export ends before its watermark: it is incomplete")
	}
	return nil
}

// RestoreConfig is what Restore needs.
type RestoreConfig struct {
	Store   store.Store // the target database: migrated and empty (CheckEmpty)
	DataDir string      // the data directory, which must not hold any of DataFiles
	LogDir  string      // the log directory: new, or empty
}

// Restore writes the backup in r, whose manifest Check returned, into cfg: the database export through the
// target store's methods (an Importer), the data files into DataDir and the log into LogDir, none of which
// it overwrites. It checks every member against the manifest again, and reads the target back and compares
// it with the manifest's tally: a difference is a *MismatchError. Files are synced to disk before it returns.
//
// The restored log may hold leaves beyond the rows of the restored database (see Backup): run attestd's
// start-up reconciliation before auditing.
func Restore(ctx context.Context, r io.Reader, m Manifest, cfg RestoreConfig) error {
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return fmt.Errorf("restore: log directory: %w", err)
	}
	logRoot, err := os.OpenRoot(cfg.LogDir)
	if err != nil {
		return fmt.Errorf("restore: log directory: %w", err)
	}
	defer logRoot.Close()
	var tally Tally
	im := NewImporter(cfg.Store)
	files, _, err := members(r, &m, func(name, kind string, body io.Reader) error {
		switch kind {
		case databaseMember:
			return readExport(body, func(rec Record) error {
				if err := tally.Add(rec); err != nil {
					return err
				}
				return im.Add(ctx, rec)
			})
		case dataPrefix:
			base := strings.TrimPrefix(name, dataPrefix)
			return writeNew(filepath.Join(cfg.DataDir, base), DataFiles[base], body)
		case logPrefix:
			return writeLogFile(logRoot, strings.TrimPrefix(name, logPrefix), body)
		}
		return nil
	})
	if err == nil && len(files) != len(m.Files) {
		err = fmt.Errorf("%d members, the manifest lists %d", len(files), len(m.Files))
	}
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := im.Finish(); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if diff := Diff(tally.Counts(), m.Database.Records); len(diff) > 0 {
		return fmt.Errorf("restore: the database export differs from the manifest: %s", strings.Join(diff, "; "))
	}
	if err := syncDirs(cfg.LogDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := syncDir(cfg.DataDir); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	target, err := TallyOf(ctx, cfg.Store)
	if err != nil {
		return fmt.Errorf("restore: read the target back: %w", err)
	}
	if diff := Diff(target, m.Database.Records); len(diff) > 0 {
		return &MismatchError{Differences: diff}
	}
	return nil
}

// writeNew creates the file at p with mode, never overwriting one, and writes body to it, synced.
func writeNew(p string, mode os.FileMode, body io.Reader) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	return finishFile(f, body)
}

// writeLogFile creates the file rel (with slashes) under root, its directories with mode 0755 and the file
// with mode 0644 as Tessera makes them, never overwriting one.
func writeLogFile(root *os.Root, rel string, body io.Reader) error {
	if dir := path.Dir(rel); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	f, err := root.OpenFile(rel, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	return finishFile(f, body)
}

func finishFile(f *os.File, body io.Reader) error {
	_, err := io.Copy(f, body)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", f.Name(), err)
	}
	return nil
}

// syncDirs syncs every directory under dir, dir included, so that the files created in them stay.
func syncDirs(dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		return syncDir(p)
	})
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := f.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}
