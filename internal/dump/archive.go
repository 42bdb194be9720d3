package dump

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/store"
	"github.com/attestd/attestd/internal/tlog"
)

// FormatV1 names the format of the backups this package writes, in Manifest.Format.
const FormatV1 = "attestd-backup/1"

// Members of a backup archive.
const (
	databaseMember = "database.jsonl"
	manifestMember = "manifest.json"
	dataPrefix     = "data/" // files of the data directory
	logPrefix      = "log/"  // files of the log directory
)

// DataFiles are the files of the data directory that a backup holds, with the mode a restore gives them:
// the log's key pair, attestd's verifier key pair (which signs verification summaries) and the audit's last
// verified checkpoint. The log key is required; the others are copied when they exist. admin.token is not
// copied: it is a password, and the database keeps only its hash.
var DataFiles = map[string]os.FileMode{
	tlog.KeyFile:       0o600,
	tlog.PubFile:       0o644,
	"verifier.key":     0o600,
	"verifier.pub":     0o644,
	"audit.checkpoint": 0o600,
}

// dataFileOrder is the order in which a backup holds the data files.
var dataFileOrder = []string{tlog.KeyFile, tlog.PubFile, "verifier.key", "verifier.pub", "audit.checkpoint"}

// maxDataFileBytes bounds a data file (keys and a checkpoint are a few hundred bytes).
const maxDataFileBytes = 1 << 20

// Manifest describes a backup. It is the archive's last member, so that it can say what everything before it
// holds; a restore checks every member against it before it writes anything.
type Manifest struct {
	Format         string       `json:"format"`
	AttestdVersion string       `json:"attestd_version"`
	Backend        string       `json:"backend"` // the database backed up: "sqlite" or "postgres"
	StartedAt      time.Time    `json:"started_at"`
	DatabaseAt     time.Time    `json:"database_at"` // when the database export was complete and the log copy began
	FinishedAt     time.Time    `json:"finished_at"`
	Database       DatabaseInfo `json:"database"`
	Log            LogInfo      `json:"log"`
	Files          []FileEntry  `json:"files"` // every member before the manifest, in order
}

// DatabaseInfo says what the database export holds.
type DatabaseInfo struct {
	Records map[string]Count `json:"records"`
	// Unlogged is the number of attestation rows without a log index that were left out (see Stats).
	Unlogged int64 `json:"unlogged_rows_left_out,omitempty"`
}

// FileEntry is one member of the archive.
type FileEntry struct {
	Name   string `json:"name"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// BackupConfig is what Backup needs.
type BackupConfig struct {
	Store   store.Store // the database: a snapshot of it, or (PostgreSQL) the live one; see Export
	Backend string      // for the manifest
	DataDir string      // where the data files are
	LogDir  string
	TempDir string // where the database export waits until it is archived (it holds every envelope)
	Version string // attestd's, for the manifest
	Now     func() time.Time
	// Started is when the backup began: before the snapshot of Store was taken, if it is one. Zero means when
	// Backup is called.
	Started time.Time
}

// Backup writes a backup to out: a gzip-compressed tar archive of the database export (database.jsonl), the
// data files (data/...), the log (log/..., see CopyLog) and the manifest. The database is exported first
// and the log copied after it, so that the log holds every leaf that a row of the export names: the log only
// grows. Leaves appended in between have no row in the export; the reconciliation at start-up records them as
// orphans.
func Backup(ctx context.Context, cfg BackupConfig, out io.Writer) (Manifest, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Started.IsZero() {
		cfg.Started = cfg.Now()
	}
	m := Manifest{Format: FormatV1, AttestdVersion: cfg.Version, Backend: cfg.Backend, StartedAt: cfg.Started.UTC()}
	vkey, err := readDataFile(cfg.DataDir, tlog.PubFile)
	if err != nil {
		return m, fmt.Errorf("backup: the log's public key: %w", err)
	}
	if _, err := readDataFile(cfg.DataDir, tlog.KeyFile); err != nil {
		return m, fmt.Errorf("backup: the log's key: %w", err)
	}

	tmp, err := os.CreateTemp(cfg.TempDir, ".attestd-export-*.jsonl")
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	defer func() { tmp.Close(); os.Remove(tmp.Name()) }()
	w := NewWriter(tmp)
	stats, err := Export(ctx, cfg.Store, w.Write)
	if err == nil {
		err = w.Flush()
	}
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	m.DatabaseAt = cfg.Now().UTC()
	m.Database = DatabaseInfo{Records: w.Tally().Counts(), Unlogged: stats.Unlogged}

	aw := newArchiveWriter(out)
	size, _ := w.Size()
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	if err := aw.add(databaseMember, 0o600, size, tmp); err != nil {
		return m, err
	}
	// The data files before the log: audit.checkpoint, which a running audit rewrites, is then never ahead of
	// the copied log (the audit saves only checkpoints the log has published).
	for _, name := range dataFileOrder {
		data, err := readDataFile(cfg.DataDir, name)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return m, fmt.Errorf("backup: %w", err)
		}
		if err := aw.addBytes(dataPrefix+name, DataFiles[name], data); err != nil {
			return m, err
		}
	}
	m.Log, err = CopyLog(ctx, cfg.LogDir, strings.TrimSpace(string(vkey)), func(name string, data []byte) error {
		return aw.addBytes(logPrefix+name, 0o644, data)
	})
	if err != nil {
		return m, fmt.Errorf("backup: %w", err)
	}
	m.FinishedAt = cfg.Now().UTC()
	m.Files = aw.files
	raw, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return m, fmt.Errorf("backup: manifest: %w", err)
	}
	if err := aw.addBytes(manifestMember, 0o600, append(raw, '\n')); err != nil {
		return m, err
	}
	if err := aw.close(); err != nil {
		return m, err
	}
	return m, nil
}

func readDataFile(dir, name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(dir, name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readBounded(f, name, maxDataFileBytes)
}

// readBounded reads all of r, named name in errors, refusing more than limit bytes.
func readBounded(r io.Reader, name string, limit int) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, int64(limit)+1))
	if err != nil {
		return nil, err
	}
	if len(data) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", name, limit)
	}
	return data, nil
}

// archiveWriter writes the members of a backup and lists them.
type archiveWriter struct {
	gz    *gzip.Writer
	tw    *tar.Writer
	files []FileEntry
	mtime time.Time
}

func newArchiveWriter(w io.Writer) *archiveWriter {
	gz := gzip.NewWriter(w)
	return &archiveWriter{gz: gz, tw: tar.NewWriter(gz), mtime: time.Now().UTC().Truncate(time.Second)}
}

func (a *archiveWriter) add(name string, mode os.FileMode, size int64, r io.Reader) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: int64(mode), Size: size, ModTime: a.mtime,
		Format: tar.FormatPAX}
	if err := a.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("backup: write %s: %w", name, err)
	}
	h := sha256.New()
	n, err := io.Copy(a.tw, io.TeeReader(io.LimitReader(r, size), h))
	if err == nil && n != size {
		err = fmt.Errorf("%d bytes, want %d", n, size)
	}
	if err != nil {
		return fmt.Errorf("backup: write %s: %w", name, err)
	}
	if name != manifestMember {
		a.files = append(a.files, FileEntry{Name: name, Size: size, SHA256: hex.EncodeToString(h.Sum(nil))})
	}
	return nil
}

func (a *archiveWriter) addBytes(name string, mode os.FileMode, data []byte) error {
	return a.add(name, mode, int64(len(data)), bytes.NewReader(data))
}

func (a *archiveWriter) close() error {
	if err := a.tw.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := a.gz.Close(); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	return nil
}

// memberKind says what a member name is: the database export, the manifest, a data file or a log file. Any
// other name, and every name that is not a clean relative path, is an error.
func memberKind(name string) (string, error) {
	switch {
	case name == databaseMember || name == manifestMember:
		return name, nil
	case strings.HasPrefix(name, dataPrefix):
		if _, ok := DataFiles[strings.TrimPrefix(name, dataPrefix)]; ok {
			return dataPrefix, nil
		}
	case strings.HasPrefix(name, logPrefix):
		rel := strings.TrimPrefix(name, logPrefix)
		if path.Clean(rel) == rel && filepath.IsLocal(rel) &&
			(rel == checkpointFile || rel == treeStateFile || rel == versionFile || strings.HasPrefix(rel, "tile/")) {
			return logPrefix, nil
		}
	}
	return "", fmt.Errorf("unexpected member %q", name)
}

// members calls yield for each member of the archive in r (regular files only) with a reader of its content;
// it checks what yield read against the manifest's list (m nil: it only collects the list) and returns the
// list and the manifest found at the end.
func members(r io.Reader, m *Manifest, yield func(name, kind string, body io.Reader) error) ([]FileEntry, []byte, error) {
	gz, err := gzip.NewReader(bufio.NewReader(r))
	if err != nil {
		return nil, nil, fmt.Errorf("not a backup (gzip): %w", err)
	}
	tr := tar.NewReader(gz)
	var files []FileEntry
	var manifest []byte
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("read archive: %w", err)
		}
		if manifest != nil {
			return nil, nil, fmt.Errorf("member %q after the manifest", hdr.Name)
		}
		if hdr.Typeflag != tar.TypeReg {
			return nil, nil, fmt.Errorf("member %q is not a regular file", hdr.Name)
		}
		kind, err := memberKind(hdr.Name)
		if err != nil {
			return nil, nil, err
		}
		if kind == manifestMember {
			if hdr.Size > maxDataFileBytes*64 {
				return nil, nil, errors.New("manifest too large")
			}
			if manifest, err = io.ReadAll(tr); err != nil {
				return nil, nil, fmt.Errorf("read manifest: %w", err)
			}
			continue
		}
		i := len(files)
		if m != nil && (i >= len(m.Files) || m.Files[i].Name != hdr.Name) {
			return nil, nil, fmt.Errorf("member %q is not the manifest's file %d", hdr.Name, i)
		}
		h := sha256.New()
		body := &countingReader{r: io.TeeReader(tr, h)}
		if err := yield(hdr.Name, kind, body); err != nil {
			return nil, nil, err
		}
		if _, err := io.Copy(io.Discard, body); err != nil { // what yield left unread
			return nil, nil, fmt.Errorf("read %s: %w", hdr.Name, err)
		}
		fe := FileEntry{Name: hdr.Name, Size: body.n, SHA256: hex.EncodeToString(h.Sum(nil))}
		if m != nil && fe != m.Files[i] {
			return nil, nil, fmt.Errorf("member %s differs from the manifest (changed since it was checked?)", hdr.Name)
		}
		files = append(files, fe)
	}
	if manifest == nil {
		return nil, nil, errors.New("the archive has no manifest: it is not a complete backup (truncated?)")
	}
	return files, manifest, nil
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
