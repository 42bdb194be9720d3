package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/attestd/attestd/attestation"
	"github.com/attestd/attestd/internal/tlog"
)

// Config is everything attestd serve needs, from flags and environment.
type Config struct {
	GRPCListen         string
	HTTPListen         string
	DebugListen        string // loopback address for pprof; empty: off
	DatabaseURL        string
	DataDir            string
	TLSCert            string
	TLSKey             string
	LogLevel           string
	LogFormat          string
	LogDir             string
	LogOrigin          string
	LogBatchSize       int
	LogBatchAge        time.Duration
	CheckpointInterval time.Duration
	WatermarkInterval  time.Duration
	HealthInterval     time.Duration
	DrainTimeout       time.Duration
	AuthCacheTTL       time.Duration
	RekorAllow         string // comma-separated Rekor URLs that project admins may choose
	Limits             attestation.Limits
}

// DefaultRekorAllow is the Rekor server project admins may choose when the operator names none: Sigstore's
// public instance.
const DefaultRekorAllow = "https://rekor.sigstore.dev"

// rekorURLs returns the Rekor URLs of --rekor-allow.
func (c *Config) rekorURLs() []string {
	var out []string
	for _, u := range strings.Split(c.RekorAllow, ",") {
		if u = strings.TrimSpace(u); u != "" {
			out = append(out, u)
		}
	}
	return out
}

// newFlagSet declares the flags of serve and migrate on fs, with defaults taken from the environment.
func newFlagSet(name string, getenv func(string) string, stderr io.Writer) (*flag.FlagSet, *Config, *[]error) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &Config{Limits: attestation.DefaultLimits()}
	var envErrs []error
	env := func(flagName string) (string, string) {
		key := "ATTESTD_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
		return key, getenv(key)
	}
	str := func(p *string, flagName, def, help string) {
		if _, v := env(flagName); v != "" {
			def = v
		}
		fs.StringVar(p, flagName, def, help)
	}
	dur := func(p *time.Duration, flagName string, def time.Duration, help string) {
		if key, v := env(flagName); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", key, v, err))
			} else {
				def = d
			}
		}
		fs.DurationVar(p, flagName, def, help)
	}
	num := func(p *int, flagName string, def int, help string) {
		if key, v := env(flagName); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				envErrs = append(envErrs, fmt.Errorf("%s=%q: %w", key, v, err))
			} else {
				def = n
			}
		}
		fs.IntVar(p, flagName, def, help)
	}
	str(&c.GRPCListen, "grpc-listen", "127.0.0.1:7700", "gRPC listen address")
	str(&c.HTTPListen, "http-listen", "127.0.0.1:7701", "HTTP listen address: REST/JSON API (/v1/), web page (/), /healthz, /metrics, log tiles (/log/)")
	str(&c.DebugListen, "debug-listen", "", "loopback address (e.g. 127.0.0.1:7702) serving Go's profiles under "+
		"/debug/pprof/; empty: off")
	str(&c.DatabaseURL, "database-url", "", "PostgreSQL URL, e.g. postgres://user@host:5432/attestd, or sqlite:PATH "+
		"for an SQLite file; empty: the embedded SQLite database <data-dir>/"+sqliteFile+" (env ATTESTD_DATABASE_URL)")
	str(&c.DataDir, "data-dir", "./attestd-data", "directory for attestd's own files: admin token, log key, log, "+
		"and the embedded database")
	str(&c.TLSCert, "tls-cert", "", "PEM certificate: serve gRPC over TLS (with --tls-key)")
	str(&c.TLSKey, "tls-key", "", "PEM private key for --tls-cert")
	str(&c.LogLevel, "log-level", "info", "debug, info, warn or error")
	str(&c.LogFormat, "log-format", "json", "json or text")
	str(&c.LogDir, "log-dir", "", "transparency log directory (default <data-dir>/log)")
	str(&c.LogOrigin, "log-origin", "attestd.local/log", "origin line of the log's checkpoints (fixed when the log key is created)")
	num(&c.LogBatchSize, "log-batch-size", tlog.DefaultBatchMaxSize, "most entries the log sequences in one batch")
	dur(&c.LogBatchAge, "log-batch-age", tlog.DefaultBatchMaxAge, "longest an entry waits for its batch to fill")
	dur(&c.CheckpointInterval, "checkpoint-interval", 200*time.Millisecond, "how often a new checkpoint is published")
	dur(&c.WatermarkInterval, "watermark-interval", 5*time.Second, "how often the settled log size is saved for the next start-up's reconciliation")
	dur(&c.HealthInterval, "health-interval", 2*time.Second, "how often the database is pinged for health")
	dur(&c.DrainTimeout, "drain-timeout", 20*time.Second, "on SIGTERM, how long in-flight requests may take before they are cut")
	dur(&c.AuthCacheTTL, "auth-cache-ttl", time.Second, "how long a token that authenticated is trusted without "+
		"reading it again; changes made through this attestd apply at once, other replicas' within it; 0: off")
	str(&c.RekorAllow, "rekor-allow", DefaultRekorAllow, "comma-separated Rekor server URLs that project admins may "+
		"anchor in (attest project set --rekor-url); server admins may set any. Empty: only server admins choose")
	num(&c.Limits.MaxEnvelopeBytes, "max-envelope-bytes", c.Limits.MaxEnvelopeBytes, "largest envelope accepted, in bytes")
	num(&c.Limits.MaxSignatures, "max-signatures", c.Limits.MaxSignatures, "most signatures on one envelope")
	num(&c.Limits.MaxSubjects, "max-subjects", c.Limits.MaxSubjects, "most subjects in one statement")
	num(&c.Limits.MaxMaterials, "max-materials", c.Limits.MaxMaterials, "most materials in one statement")
	num(&c.Limits.MaxJSONDepth, "max-json-depth", c.Limits.MaxJSONDepth, "deepest JSON nesting accepted")
	num(&c.Limits.MaxNameBytes, "max-name-bytes", c.Limits.MaxNameBytes, "longest artifact name, in bytes")
	return fs, c, &envErrs
}

// parseConfig parses args into the Config and checks it.
func parseConfig(name string, args []string, getenv func(string) string, stderr io.Writer) (*Config, error) {
	fs, c, envErrs := newFlagSet(name, getenv, stderr)
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return c, finishConfig(c, fs, *envErrs)
}

// finishConfig checks a Config after its flags were parsed, and fills in derived defaults.
func finishConfig(c *Config, fs *flag.FlagSet, envErrs []error) error {
	if len(envErrs) > 0 {
		return errors.Join(envErrs...)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return errors.New("--tls-cert and --tls-key go together")
	}
	for name, v := range map[string]int{
		"--max-envelope-bytes": c.Limits.MaxEnvelopeBytes, "--max-signatures": c.Limits.MaxSignatures,
		"--max-subjects": c.Limits.MaxSubjects, "--max-materials": c.Limits.MaxMaterials,
		"--max-json-depth": c.Limits.MaxJSONDepth, "--max-name-bytes": c.Limits.MaxNameBytes,
	} {
		if v < 1 {
			return fmt.Errorf("%s must be at least 1", name)
		}
	}
	if c.HealthInterval <= 0 || c.DrainTimeout <= 0 || c.LogBatchAge <= 0 || c.CheckpointInterval <= 0 || c.WatermarkInterval <= 0 {
		return errors.New("--health-interval, --drain-timeout, --log-batch-age, --checkpoint-interval and --watermark-interval must be positive")
	}
	if c.AuthCacheTTL < 0 || c.AuthCacheTTL > time.Minute {
		return errors.New("--auth-cache-ttl must be between 0 (off) and 1m")
	}
	if c.CheckpointInterval < tlog.MinCheckpointInterval {
		return fmt.Errorf("--checkpoint-interval must be at least %s", tlog.MinCheckpointInterval)
	}
	if c.LogBatchSize < 1 {
		return errors.New("--log-batch-size must be at least 1")
	}
	if c.LogOrigin == "" || strings.ContainsAny(c.LogOrigin, " \t\n+") {
		return errors.New("--log-origin must be non-empty, without spaces or '+'")
	}
	if c.DebugListen != "" {
		if err := checkLoopback(c.DebugListen); err != nil {
			return fmt.Errorf("--debug-listen: %w", err)
		}
	}
	if c.LogDir == "" {
		c.LogDir = filepath.Join(c.DataDir, "log")
	}
	if _, err := c.database(); err != nil {
		return err
	}
	return nil
}

// sqliteFile is the name of the embedded database in the data directory.
const sqliteFile = "attestd.db"

// Database backends.
const (
	backendPostgres = "postgres"
	backendSQLite   = "sqlite"
)

// database is where attestd keeps its data: a PostgreSQL database, or an SQLite file.
type database struct {
	Backend string // backendPostgres or backendSQLite
	URL     string // the PostgreSQL URL or connection string
	Path    string // the SQLite file
}

// database reads --database-url: empty is the embedded SQLite database in the data directory, sqlite:PATH an
// SQLite file elsewhere, anything else a PostgreSQL URL (or key=value connection string).
func (c *Config) database() (database, error) {
	switch {
	case c.DatabaseURL == "":
		return database{Backend: backendSQLite, Path: filepath.Join(c.DataDir, sqliteFile)}, nil
	case strings.HasPrefix(c.DatabaseURL, "sqlite:"):
		path := strings.TrimPrefix(c.DatabaseURL, "sqlite:")
		if path == "" {
			return database{}, errors.New("--database-url sqlite:PATH needs the path of the database file")
		}
		return database{Backend: backendSQLite, Path: path}, nil
	}
	return database{Backend: backendPostgres, URL: c.DatabaseURL}, nil
}

// Where says where the database is, for logs and messages: the file, or the URL without its password and
// parameters (which may hold one).
func (d database) Where() string {
	if d.Backend == backendSQLite {
		return d.Path
	}
	u, err := url.Parse(d.URL)
	if err != nil || u.Scheme == "" || u.Opaque != "" {
		return "(connection string)" // key=value strings may hold a password anywhere
	}
	if u.User != nil {
		u.User = url.User(u.User.Username())
	}
	u.RawQuery, u.Fragment = "", ""
	return u.String()
}

// checkLoopback accepts host:port addresses whose host is a loopback IP or "localhost": the profiles show
// request contents in memory and must not be reachable from other machines.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%q is not a loopback address (127.0.0.1, ::1 or localhost)", host)
	}
	return nil
}
