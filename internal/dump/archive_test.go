package dump_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attestd/attestd/internal/dump"
	"github.com/attestd/attestd/internal/dump/dumptest"
	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// backupOf writes a backup of a populated installation and returns it with the source.
func backupOf(t *testing.T) ([]byte, dumptest.Installation, dump.Manifest) {
	t.Helper()
	_, archive, in, m := backupWithStore(t)
	return archive, in, m
}

// backupWithStore is backupOf, with the source's store.
func backupWithStore(t *testing.T) (store.Store, []byte, dumptest.Installation, dump.Manifest) {
	t.Helper()
	src, in := source(t)
	var buf bytes.Buffer
	m, err := dump.Backup(t.Context(), dump.BackupConfig{Store: src, Backend: "sqlite", DataDir: in.DataDir,
		LogDir: in.LogDir, TempDir: t.TempDir(), Version: "test"}, &buf)
	if err != nil {
		t.Fatalf("Backup: %v", err)
	}
	return src, buf.Bytes(), in, m
}

func TestBackupCheckRestore(t *testing.T) {
	src, archive, in, m := backupWithStore(t)
	if m.Format != dump.FormatV1 || m.Backend != "sqlite" || m.Log.TreeSize != in.LogSize || m.Log.Origin != dumptest.Origin ||
		m.Database.Records[dump.KindAttestation].Records != int64(len(in.Attestations)) {
		t.Errorf("manifest: %+v", m)
	}
	if m.StartedAt.After(m.DatabaseAt) || m.DatabaseAt.After(m.FinishedAt) {
		t.Errorf("manifest times out of order: %v, %v, %v", m.StartedAt, m.DatabaseAt, m.FinishedAt)
	}
	checked, err := dump.Check(bytes.NewReader(archive))
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(checked.Files) != len(m.Files) || checked.Files[0].Name != "database.jsonl" {
		t.Errorf("Check returned %d files, Backup wrote %d", len(checked.Files), len(m.Files))
	}

	dataDir := t.TempDir()
	logDir := filepath.Join(dataDir, "log")
	dst := newSQLite(t)
	if err := dump.Restore(t.Context(), bytes.NewReader(archive), checked, dump.RestoreConfig{Store: dst, DataDir: dataDir, LogDir: logDir}); err != nil {
		t.Fatalf("Restore: %v", err)
	}
	for name, mode := range map[string]os.FileMode{tlog.KeyFile: 0o600, tlog.PubFile: 0o644} {
		fi, err := os.Stat(filepath.Join(dataDir, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s restored: %v, mode %v; want %v", name, err, fi.Mode().Perm(), mode)
		}
		want, _ := os.ReadFile(filepath.Join(in.DataDir, name))
		if got, _ := os.ReadFile(filepath.Join(dataDir, name)); !bytes.Equal(got, want) {
			t.Errorf("%s restored with other bytes", name)
		}
	}
	auditClean(t, dst, dataDir, logDir)
	// Every row, anchors in each state and the projects' Rekor settings included.
	checkAnchorStates(t, in)
	dumptest.Compare(t, src, dst)

	// Restore never overwrites: a second restore into the same directories fails on the first file.
	err = dump.Restore(t.Context(), bytes.NewReader(archive), checked, dump.RestoreConfig{Store: newSQLite(t), DataDir: dataDir, LogDir: logDir})
	if !errors.Is(err, fs.ErrExist) {
		t.Errorf("Restore over a restored data directory: %v, want ErrExist", err)
	}
}

// rewrite returns archive with each member passed through edit (which may change its name or content, or drop
// it by returning ok false) and extra members appended before the manifest.
func rewrite(t *testing.T, archive []byte, edit func(name string, data []byte) (string, []byte, bool), extra map[string][]byte) []byte {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(archive))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	var out bytes.Buffer
	gw := gzip.NewWriter(&out)
	tw := tar.NewWriter(gw)
	put := func(name string, data []byte) {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o600, Size: int64(len(data))}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data); err != nil {
			t.Fatal(err)
		}
	}
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Name == "manifest.json" {
			for name, d := range extra {
				put(name, d)
			}
		}
		if name, d, ok := edit(hdr.Name, data); ok {
			put(name, d)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

func TestCheckRefusesDamagedBackups(t *testing.T) {
	archive, _, _ := backupOf(t)
	keep := func(name string, data []byte) (string, []byte, bool) { return name, data, true }
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"truncated", archive[:len(archive)/2], "unexpected EOF"},
		{"not gzip", []byte("hello"), "not a backup"},
		{"no manifest", rewrite(t, archive, func(name string, data []byte) (string, []byte, bool) {
			return name, data, name != "manifest.json"
		}, nil), "no manifest"},
		{"changed leaf", rewrite(t, archive, func(name string, data []byte) (string, []byte, bool) {
			if strings.HasPrefix(name, "log/tile/entries/") {
				data = bytes.Clone(data)
				data[3] ^= 1
			}
			return name, data, true
		}, nil), "differ from the manifest"},
		{"changed row", rewrite(t, archive, func(name string, data []byte) (string, []byte, bool) {
			if name == "database.jsonl" {
				data = bytes.Replace(data, []byte(`"name":"shop"`), []byte(`"name":"shoq"`), 1)
			}
			return name, data, true
		}, nil), "differ from the manifest"},
		{"escaping member", rewrite(t, archive, keep, map[string][]byte{"log/../../etc/x": []byte("x")}), "unexpected member"},
		{"unknown data file", rewrite(t, archive, keep, map[string][]byte{"data/admin.token": []byte("x")}), "unexpected member"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := dump.Check(bytes.NewReader(tc.archive)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Check = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}
