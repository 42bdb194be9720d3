package tlog

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/transparency-dev/tessera"
	"github.com/transparency-dev/tessera/storage/posix"
	"golang.org/x/mod/sumdb/note"
)

// Defaults for the zero values of Config.
const (
	// DefaultBatchMaxSize is small enough that 64 concurrent submitters fill a batch before its age runs out
	// (a batch is sequenced when full or when its oldest entry is DefaultBatchMaxAge old), and large enough
	// that a batch's files and fsyncs stay a small part of each entry's cost: attestd-load's submit at 64
	// clients ran 1,069/s with 256 and 1,484/s with 32 (docs/performance.md).
	DefaultBatchMaxSize       = 32
	DefaultBatchMaxAge        = 50 * time.Millisecond
	DefaultCheckpointInterval = 200 * time.Millisecond
	DefaultMaxOutstanding     = 4096
	// DefaultAntispamEntries bounds Tessera's in-memory duplicate cache. It only has to cover identical appends
	// that race each other (attestd dedups durably in its database before appending); each entry holds about
	// 350 bytes, and 65,536 of them made attestd's memory grow by 20 MiB over its first minutes under load,
	// which a soak test cannot tell from a leak.
	DefaultAntispamEntries = DefaultMaxOutstanding

	// DefaultGCInterval is how often Tessera removes the partial entry bundles and tiles that full ones have
	// replaced. One pass removes those of at most 101 bundles (25,856 entries), so Tessera's default of a
	// minute keeps up with only 431 entries/s: a 30-minute soak at 875/s left 1,324 directories of partial
	// files after 12 minutes, three quarters of the log's 199 MB, and the backlog grows for as long as the
	// load lasts. Every 2 s a pass keeps up with 12,900 entries/s, more than the log appends alone; a pass
	// with nothing to remove reads two small files.
	DefaultGCInterval = 2 * time.Second

	// MinCheckpointInterval is the smallest interval Tessera's POSIX driver accepts.
	MinCheckpointInterval = 100 * time.Millisecond
	// MaxEntrySize is the largest entry tlog-tiles can hold (a bundle stores each length in 16 bits).
	MaxEntrySize = tessera.DefaultEntrySizeLimit
)

// lockFile is taken with flock(2) for as long as a Log is open, in the log directory itself: Tessera's own
// fcntl locks do not exclude a second appender in the same process, and one appender per directory is what the
// in-memory antispam and the crash-consistency design assume.
const lockFile = ".attestd.lock"

var (
	// ErrClosed: the Log has been closed.
	ErrClosed = errors.New("log closed")
	// ErrPushback: too many appends are waiting to be sequenced; apply back-pressure (UNAVAILABLE with a
	// retry hint) and try again later. It is tessera.ErrPushback, so either name matches with errors.Is.
	ErrPushback = tessera.ErrPushback
	// ErrOutOfRange: an index or tree size beyond the latest published checkpoint.
	ErrOutOfRange = errors.New("beyond the published log")
	// ErrCorrupt: the log's files contradict its own signed checkpoint (tampering or disk corruption).
	ErrCorrupt = errors.New("log files contradict the signed checkpoint")
)

// Config configures Open. Dir and Signer are required; zero values take the defaults above.
type Config struct {
	Dir    string      // the tlog-tiles directory (POSIX driver root)
	Signer note.Signer // signs checkpoints; its name is the log's origin
	// VerifierKey is Signer's verifier key line, as LoadOrCreateKey returns it. Optional: Open checks that it
	// matches Signer; without it the Log checks its checkpoints by signing again (note keys are Ed25519, whose
	// signatures are deterministic).
	VerifierKey string

	BatchMaxSize       uint          // entries per sequencing batch; default DefaultBatchMaxSize
	BatchMaxAge        time.Duration // longest an entry waits for its batch; default 50ms
	CheckpointInterval time.Duration // how often a new checkpoint is published; default 200ms, minimum 100ms
	MaxOutstanding     uint          // appends waiting to be sequenced before ErrPushback; default 4096
	AntispamEntries    uint          // size of the in-memory duplicate cache; default DefaultAntispamEntries
	GCInterval         time.Duration // how often partial bundles and tiles are removed; default DefaultGCInterval

	Logger *slog.Logger // default slog.Default()
}

// Log is the embedded transparency log. Its methods are safe for concurrent use.
type Log struct {
	dir      string
	origin   string
	verifier note.Verifier
	vkey     string
	logger   *slog.Logger
	maxOut   int64

	ctx      context.Context // lives until Close; Tessera's background work runs under it
	cancel   context.CancelFunc
	add      tessera.AddFn
	shutdown func(context.Context) error
	reader   tessera.LogReader
	root     *os.Root // read side of Handler: confined to dir
	lock     *os.File

	mu          sync.RWMutex // guards closed
	closed      bool
	inflight    sync.WaitGroup // goroutines waiting on Tessera futures
	outstanding atomic.Int64
	done        chan struct{} // closed when Close has stopped Tessera

	cp checkpointWatch
}

// Open opens the log in cfg.Dir, creating it on first use, and starts Tessera's sequencer and checkpoint
// publisher. Only one Log may have a directory open at a time, in this process or any other. An existing log
// whose checkpoint was not signed by cfg.Signer's key (another key or another origin) is refused.
func Open(ctx context.Context, cfg Config) (*Log, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if cfg.Dir == "" || cfg.Signer == nil {
		return nil, errors.New("tlog: Config needs Dir and Signer")
	}
	setDefaults(&cfg)
	if cfg.CheckpointInterval < MinCheckpointInterval {
		return nil, fmt.Errorf("tlog: checkpoint interval %v is below %v, the minimum of Tessera's POSIX driver", cfg.CheckpointInterval, MinCheckpointInterval)
	}
	verifier, err := verifierFor(cfg.Signer, cfg.VerifierKey)
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("tlog: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("tlog: log directory: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	l := &Log{
		dir:      dir,
		origin:   cfg.Signer.Name(),
		verifier: verifier,
		vkey:     strings.TrimSpace(cfg.VerifierKey),
		logger:   cfg.Logger.With(slog.String("log_dir", dir)),
		maxOut:   int64(cfg.MaxOutstanding),
		lock:     lock,
		done:     make(chan struct{}),
	}
	l.cp.init()
	if dev, point, ok := journalLessExt4("/proc", dir); ok {
		l.logger.WarnContext(ctx, "log directory on ext4 without a journal: creating and removing the log's files "+
			"costs far more CPU than on a journaling file system (see docs/operations.md)", "device", dev, "mount", point)
	}
	if err := l.start(ctx, cfg); err != nil {
		if l.cancel != nil {
			l.cancel()
		}
		if l.root != nil {
			l.root.Close()
		}
		lock.Close()
		return nil, err
	}
	go l.watch()
	return l, nil
}

func setDefaults(cfg *Config) {
	if cfg.BatchMaxSize == 0 {
		cfg.BatchMaxSize = DefaultBatchMaxSize
	}
	if cfg.BatchMaxAge == 0 {
		cfg.BatchMaxAge = DefaultBatchMaxAge
	}
	if cfg.CheckpointInterval == 0 {
		cfg.CheckpointInterval = DefaultCheckpointInterval
	}
	if cfg.MaxOutstanding == 0 {
		cfg.MaxOutstanding = DefaultMaxOutstanding
	}
	if cfg.AntispamEntries == 0 {
		cfg.AntispamEntries = DefaultAntispamEntries
	}
	if cfg.GCInterval <= 0 {
		cfg.GCInterval = DefaultGCInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
}

// lockDir takes an exclusive, non-blocking flock on <dir>/.attestd.lock. flock locks belong to the open file,
// so a second Open of the same directory fails even within one process; the kernel drops the lock when the
// process dies.
func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("tlog: lock log directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("tlog: log directory %s is in use by another Log (this process or another)", dir)
		}
		return nil, fmt.Errorf("tlog: lock log directory: %w", err)
	}
	return f, nil
}

func (l *Log) start(ctx context.Context, cfg Config) error {
	if err := l.checkExisting(); err != nil {
		return err
	}
	// Tessera panics (in initialise and in every sequencing batch) when it cannot open its lock file; find out
	// here, while an error can still be returned. Opening and closing the file is harmless: no fcntl lock of this
	// process is held on it yet.
	stateDir := filepath.Join(l.dir, ".state")
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("tlog: log state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(stateDir, "treeState.lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("tlog: log directory is not writable: %w", err)
	}
	f.Close()

	driver, err := posix.New(ctx, posix.Config{Path: l.dir})
	if err != nil {
		return fmt.Errorf("tlog: posix driver: %w", err)
	}
	l.ctx, l.cancel = context.WithCancel(context.WithoutCancel(ctx))
	opts := tessera.NewAppendOptions().
		WithCheckpointSigner(cfg.Signer).
		WithBatching(cfg.BatchMaxSize, cfg.BatchMaxAge).
		WithCheckpointInterval(cfg.CheckpointInterval).
		WithAntispam(cfg.AntispamEntries, nil).
		WithGarbageCollectionInterval(cfg.GCInterval)
	app, shutdown, reader, err := tessera.NewAppender(l.ctx, driver, opts)
	if err != nil {
		return fmt.Errorf("tlog: start tessera: %w", err)
	}
	l.add, l.shutdown, l.reader = app.Add, shutdown, reader
	if l.root, err = os.OpenRoot(l.dir); err != nil {
		return fmt.Errorf("tlog: %w", err)
	}
	if _, _, err := l.refresh(ctx); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// checkExisting refuses a directory whose published checkpoint is not ours (another key or origin) or is
// ahead of Tessera's tree state (.state/treeState missing, or restored from an older backup). Tessera would
// start a new tree there, overwrite published bundles and tiles and publish a smaller or inconsistent
// checkpoint: a rollback or split view of the public log. A person must look at such a directory.
func (l *Log) checkExisting() error {
	raw, err := os.ReadFile(filepath.Join(l.dir, "checkpoint"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tlog: %w", err)
	}
	cp, err := verifyCheckpoint(raw, l.verifier)
	if err != nil {
		return fmt.Errorf("tlog: the log in %s is not this key's log: %w", l.dir, err)
	}
	stateRaw, err := os.ReadFile(filepath.Join(l.dir, ".state", "treeState"))
	if errors.Is(err, fs.ErrNotExist) && cp.Size == 0 {
		return nil
	}
	if err != nil {
		return fmt.Errorf("tlog: log in %s has a checkpoint of size %d but no readable tree state: %w", l.dir, cp.Size, err)
	}
	var state struct {
		Size *uint64 `json:"size"`
	}
	if err := json.Unmarshal(stateRaw, &state); err != nil || state.Size == nil {
		return fmt.Errorf("tlog: log in %s: unreadable tree state %q", l.dir, stateRaw)
	}
	if *state.Size < cp.Size {
		return fmt.Errorf("tlog: log in %s: tree state (size %d) is behind the published checkpoint (size %d); refusing to overwrite published entries (was .state restored from an older backup?)", l.dir, *state.Size, cp.Size)
	}
	return nil
}

// Append adds entry to the log and returns its index once Tessera has sequenced it.
//
// Durability: the POSIX driver resolves an entry's future only after the whole batch has been written — entry
// bundle, Merkle tiles and the tree state (.state/treeState) — each as a temporary file opened with O_SYNC,
// renamed into place, with the containing directory fsynced. So when Append returns an index, the entry is
// on stable storage at that index: it survives kill -9 and, on a file system and disk that honour fsync, power
// loss. It is not yet covered by a published checkpoint (that follows within CheckpointInterval, also after a
// restart, since the publisher signs whatever the tree state holds); AwaitIntegration waits for that. An
// Append that returns an error may still have been sequenced (the failure may come after the write, or the
// caller's ctx may end first); an index that Append never returned may, after a crash, be given to another
// entry.
//
// Duplicates: identical entries appended concurrently, or again later while the first is still in the
// in-memory antispam cache (AntispamEntries most recent distinct entries), get the first one's index and add
// no leaf. The cache forgets on restart and on eviction, and an append that failed is retried for real, so
// callers must dedupe durably themselves (attestd does, in its database).
//
// Append fails with ErrPushback (wrapped) when MaxOutstanding appends are already waiting, with ErrClosed
// after Close, and with Tessera's error when the log directory cannot be written. It returns when ctx ends,
// whatever Tessera is doing.
func (l *Log) Append(ctx context.Context, entry []byte) (uint64, error) {
	if len(entry) > MaxEntrySize {
		return 0, fmt.Errorf("tlog: append: entry of %d bytes is larger than %d", len(entry), MaxEntrySize)
	}
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("tlog: append: %w", err)
	}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, fmt.Errorf("tlog: append: %w", ErrClosed)
	}
	if n := l.outstanding.Add(1); n > l.maxOut {
		l.outstanding.Add(-1)
		l.mu.RUnlock()
		return 0, fmt.Errorf("tlog: append: %d entries waiting to be sequenced: %w", l.maxOut, ErrPushback)
	}
	l.inflight.Add(1)
	l.mu.RUnlock()

	type result struct {
		idx tessera.Index
		err error
	}
	res := make(chan result, 1)
	data := bytes.Clone(entry)
	go func() {
		defer l.inflight.Done()
		defer l.outstanding.Add(-1)
		// Tessera's Add can block (its queue hands batches to one worker) and its future has no ctx, so both
		// run here. The Log's ctx, not the caller's, goes to Tessera: the antispam cache keeps it with the entry.
		idx, err := l.add(l.ctx, tessera.NewEntry(data))()
		res <- result{idx, err}
	}()
	select {
	case r := <-res:
		if r.err != nil {
			return 0, fmt.Errorf("tlog: append: %w", r.err)
		}
		return r.idx.Index, nil
	case <-ctx.Done():
		return 0, fmt.Errorf("tlog: append: %w", ctx.Err())
	case <-l.done:
		return 0, fmt.Errorf("tlog: append: %w", ErrClosed)
	}
}

// IntegratedSize returns the size of the tree Tessera has durably sequenced and integrated (.state/treeState,
// written last, after the bundles and tiles, all fsynced): every index below it was returned by Append, or was
// being appended when the process stopped, and survives a crash. It may be ahead of the published checkpoint,
// so it is for reconciliation and bounds, never a substitute for a signed checkpoint: proofs and entries are
// served only up to the published size (AwaitIntegration(size-1) first).
func (l *Log) IntegratedSize(ctx context.Context) (uint64, error) {
	n, err := l.reader.IntegratedSize(ctx)
	if err != nil {
		return 0, fmt.Errorf("tlog: integrated size: %w", err)
	}
	return n, nil
}

// Verifier returns the verifier of the log's checkpoints.
func (l *Log) Verifier() note.Verifier { return l.verifier }

// VerifierKey returns the verifier key line Open was given (Config.VerifierKey), what clients pin to verify
// checkpoints; it is empty if Open was given none.
func (l *Log) VerifierKey() string { return l.vkey }

// Origin returns the log's origin, the first line of every checkpoint and the name of its key.
func (l *Log) Origin() string { return l.origin }

// Close stops accepting appends, waits (within ctx) for the appends already accepted to be sequenced and for a
// checkpoint that covers them to be published, then stops Tessera and releases the directory. If Close fails,
// the directory stays locked for the life of the process, since a sequencing batch may still be running.
func (l *Log) Close(ctx context.Context) error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	l.mu.Unlock()

	err := waitGroup(ctx, &l.inflight)
	if err == nil {
		err = l.shutdown(ctx)
	}
	l.cancel()
	close(l.done)
	<-l.cp.watcherDone
	l.root.Close()
	if err != nil {
		return fmt.Errorf("tlog: close: %w", err)
	}
	return l.lock.Close()
}

func waitGroup(ctx context.Context, wg *sync.WaitGroup) error {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("waiting for appends in flight: %w", ctx.Err())
	}
}
