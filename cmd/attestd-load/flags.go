package main

import (
	"flag"
	"fmt"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Bounds of the flags. Every run is bounded in operations, time and memory.
const (
	maxClients       = 1024
	maxCount         = 10_000_000
	maxDuration      = 2 * time.Hour
	maxRate          = 1_000_000
	maxEnvelopeBytes = 4 << 20
	minEnvelopeBytes = 256
	maxSubjects      = 10_000 // attestd's default --max-subjects
	maxTimeout       = 10 * time.Minute
	maxPrefill       = 1_000_000
	maxLimitsTime    = time.Minute
	// maxEnvelopeMemory bounds the envelopes signed before the clock starts (count × size): 90,000 envelopes
	// of 4 KiB, a minute at 1,500/s, are 370 MB. A soak signs as it goes and holds a few seconds of them.
	maxEnvelopeMemory = 4 << 30
	maxTokenFile      = 4096
	defaultCount      = 10_000 // when neither --count nor --duration is given
)

// keyKinds are the functionary key types of --key.
func keyKinds() []string { return []string{"ed25519", "ecdsa-p256", "rsa"} }

// config is a parsed and checked command line.
type config struct {
	op string

	server      string
	token       string // server-admin
	project     string // with adminToken: an existing project
	adminToken  string
	clients     int
	conns       int
	count       int64 // the bound on operations; always > 0 after parsing
	duration    time.Duration
	rate        float64 // 0: closed loop
	envBytes    int
	subjects    int
	keyKind     string
	timeout     time.Duration
	json        bool
	quiet       bool
	attestdPID  int
	pgPIDs      []int  // nil: every process whose comm is "postgres"
	pgDB        string // count only the postgres processes that serve this database
	limits      bool
	limitsTime  time.Duration
	databaseURL string
	limitsDir   string
	prefill     int
	rekorURL    string
}

// needsEnvelopes says whether the command signs its envelopes up front, one per operation. A soak signs them
// as it goes (envelopeStream), a few seconds ahead of its schedule.
func (c *config) needsEnvelopes() bool { return c.op == "submit" || c.op == "rekor" }

// streamAhead is how many envelopes a soak holds signed ahead of its schedule: streamAheadSeconds of its rate,
// at least one per client, within maxStreamMemory and the run's count.
func (c *config) streamAhead() int {
	n := max(int64(math.Ceil(c.rate*streamAheadSeconds)), int64(c.clients))
	n = min(n, max(maxStreamMemory/int64(c.envBytes), 1), c.count)
	return int(n)
}

func parseFlags(op string, args []string, stderr io.Writer) (*config, error) {
	if !slices.ContainsFunc(commands(), func(c struct{ name, summary string }) bool { return c.name == op }) {
		printTopUsage(stderr)
		return nil, usagef("unknown command %q", op)
	}
	c := &config{op: op}
	fs := flag.NewFlagSet("attestd-load "+op, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var tokenFile, pg string
	attestd := op != "limits" && op != "rekor"
	if attestd {
		fs.StringVar(&c.server, "server", "127.0.0.1:7700", "attestd's gRPC `ADDRESS` (loopback only: 127.0.0.0/8, ::1, localhost)")
		fs.StringVar(&c.token, "token", "", "a server-admin `TOKEN`: the tool creates its own project load-<unix time>")
		fs.StringVar(&tokenFile, "token-file", "", "read the server-admin token from `FILE` (attestd's data-dir/admin.token)")
		fs.StringVar(&c.project, "project", "", "use the existing `PROJECT` (with --admin-token) instead of creating one")
		fs.StringVar(&c.adminToken, "admin-token", "", "an admin `TOKEN` of --project")
		fs.IntVar(&c.attestdPID, "attestd-pid", 0, "attestd's `PID` (default: the process listening on --server's port, or the only one named attestd)")
		fs.StringVar(&pg, "pg", "", "PostgreSQL's `PIDS`, comma-separated (default: every process whose comm is \"postgres\")")
		fs.StringVar(&c.pgDB, "pg-db", "", "count only the PostgreSQL processes that serve database `NAME` (its backends and "+
			"the server-wide ones), on a server shared with other work; see docs/load.md")
	}
	if op == "rekor" {
		fs.StringVar(&c.rekorURL, "rekor-url", "http://127.0.0.1:3077", "the Rekor v1 server's `URL` (loopback only)")
	}
	if op != "limits" {
		fs.IntVar(&c.clients, "clients", 64, "concurrent clients (`N`, at most 1024)")
		fs.IntVar(&c.conns, "conns", 0, "connections the clients share (`N`; default: one per client)")
		fs.Int64Var(&c.count, "count", 0, "stop after `N` operations (at most 10,000,000; default 10,000 without --duration)")
		fs.DurationVar(&c.duration, "duration", 0, "stop after `D` (at most 2h)")
		fs.Float64Var(&c.rate, "rate", 0, "open loop: start `R` requests per second on schedule, latency from the scheduled start")
		fs.IntVar(&c.subjects, "subjects", 1, "subjects per statement (`N`, at most 10,000)")
		fs.StringVar(&c.keyKind, "key", "ed25519", "functionary key `TYPE`: "+strings.Join(keyKinds(), ", "))
		fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "per-request `TIMEOUT`")
		fs.BoolVar(&c.limits, "limits", false, "also measure the limits and print them beside the results")
	}
	if op == "get" {
		fs.IntVar(&c.prefill, "prefill", 1000, "attestations submitted before the clock starts (`N`, at most 1,000,000)")
	}
	fs.IntVar(&c.envBytes, "envelope-bytes", 4096, "size of each envelope in `BYTES` (at most 4 MiB)")
	fs.DurationVar(&c.limitsTime, "limits-time", 3*time.Second, "how long each limit is measured (`D`, at most 1m)")
	fs.StringVar(&c.databaseURL, "database-url", "postgres://postgres@127.0.0.1:5432/postgres",
		"PostgreSQL `URL` for the commit limit (a role that may create the scratch database attestd_load_limits)")
	fs.StringVar(&c.limitsDir, "limits-dir", os.TempDir(), "where the log limit makes its temporary log (`DIR`; put it on attestd's --data-dir file system)")
	fs.BoolVar(&c.json, "json", false, "print the result as JSON")
	fs.BoolVar(&c.quiet, "quiet", false, "no progress lines on standard error")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: attestd-load %s [flags]\n\n%s\n\nFlags:\n", op, commandDoc(op))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return nil, &usageError{}
		}
		return nil, &usageError{} // the flag package printed the error and the usage
	}
	if fs.NArg() > 0 {
		return nil, usagef("%s: unexpected arguments: %s", op, strings.Join(fs.Args(), " "))
	}
	if tokenFile != "" {
		if c.token != "" {
			return nil, usagef("--token and --token-file: give one")
		}
		t, err := readSmallFile(tokenFile, maxTokenFile)
		if err != nil {
			return nil, usagef("--token-file: %v", err)
		}
		c.token = strings.TrimSpace(string(t))
	}
	var err error
	if c.pgPIDs, err = parsePIDs(pg); err != nil {
		return nil, usagef("--pg: %v", err)
	}
	if c.pgPIDs != nil && c.pgDB != "" {
		return nil, usagef("--pg and --pg-db: give one")
	}
	if err := c.check(attestd); err != nil {
		return nil, usagef("%s: %v", op, err)
	}
	return c, nil
}

// check applies the bounds and fills in the derived defaults.
func (c *config) check(attestd bool) error {
	if attestd {
		if err := checkLoopback(c.server); err != nil {
			return fmt.Errorf("--server: %w", err)
		}
		switch {
		case c.token != "" && (c.project != "" || c.adminToken != ""):
			return fmt.Errorf("give a server-admin --token, or --project with --admin-token, not both")
		case c.token == "" && (c.project == "" || c.adminToken == ""):
			return fmt.Errorf("a server-admin --token (or --token-file), or --project with --admin-token, is required")
		}
		if c.attestdPID < 0 {
			return fmt.Errorf("--attestd-pid %d: want a process id", c.attestdPID)
		}
	}
	if c.op == "rekor" {
		if err := checkLoopbackURL(c.rekorURL); err != nil {
			return fmt.Errorf("--rekor-url: %w", err)
		}
		// Rekor checks RSA signatures as PKCS#1 v1.5; attestor signs with RSASSA-PSS, as in-toto does.
		if c.keyKind == "rsa" {
			return fmt.Errorf("--key rsa: Rekor v1 verifies RSA signatures as PKCS#1 v1.5 and attestd's signer uses PSS; use ed25519 or ecdsa-p256")
		}
	}
	if c.envBytes < minEnvelopeBytes || c.envBytes > maxEnvelopeBytes {
		return fmt.Errorf("--envelope-bytes %d: want %d to %d", c.envBytes, minEnvelopeBytes, maxEnvelopeBytes)
	}
	if c.limitsTime < 100*time.Millisecond || c.limitsTime > maxLimitsTime {
		return fmt.Errorf("--limits-time %v: want 100ms to %v", c.limitsTime, maxLimitsTime)
	}
	if c.op == "limits" {
		return nil
	}
	if c.clients < 1 || c.clients > maxClients {
		return fmt.Errorf("--clients %d: want 1 to %d", c.clients, maxClients)
	}
	if c.conns == 0 {
		c.conns = c.clients
	}
	if c.conns < 1 || c.conns > c.clients {
		return fmt.Errorf("--conns %d: want 1 to --clients (%d)", c.conns, c.clients)
	}
	if c.subjects < 1 || c.subjects > maxSubjects {
		return fmt.Errorf("--subjects %d: want 1 to %d", c.subjects, maxSubjects)
	}
	if !slices.Contains(keyKinds(), c.keyKind) {
		return fmt.Errorf("--key %q: want one of %s", c.keyKind, strings.Join(keyKinds(), ", "))
	}
	if c.timeout <= 0 || c.timeout > maxTimeout {
		return fmt.Errorf("--timeout %v: want more than 0, at most %v", c.timeout, maxTimeout)
	}
	if c.op == "get" && (c.prefill < 1 || c.prefill > maxPrefill) {
		return fmt.Errorf("--prefill %d: want 1 to %d", c.prefill, maxPrefill)
	}
	return c.checkBounds()
}

// checkBounds checks --count, --duration and --rate and derives the operation count.
func (c *config) checkBounds() error {
	if c.count < 0 || c.count > maxCount {
		return fmt.Errorf("--count %d: want 1 to %d", c.count, maxCount)
	}
	if c.duration < 0 || c.duration > maxDuration {
		return fmt.Errorf("--duration %v: want at most %v", c.duration, maxDuration)
	}
	if c.rate < 0 || c.rate > maxRate || math.IsNaN(c.rate) {
		return fmt.Errorf("--rate %v: want more than 0, at most %d per second", c.rate, maxRate)
	}
	if c.op == "soak" && (c.rate == 0 || c.duration == 0) {
		return fmt.Errorf("soak needs --rate and --duration")
	}
	if c.op == "soak" && c.duration < 10*time.Second {
		return fmt.Errorf("--duration %v: a soak lasts at least 10s (its first 10%% is warm-up)", c.duration)
	}
	if c.count == 0 {
		switch {
		case c.duration == 0:
			c.count = defaultCount
		case c.rate > 0:
			// The open-loop schedule of --duration, envelopes included.
			c.count = int64(math.Ceil(c.rate * c.duration.Seconds()))
			if c.count > maxCount {
				return fmt.Errorf("--rate %v for --duration %v is %d operations, more than %d", c.rate, c.duration, c.count, maxCount)
			}
		case c.needsEnvelopes():
			return fmt.Errorf("--duration without --rate needs --count: the envelopes are signed before the clock starts")
		default:
			c.count = maxCount
		}
	}
	if c.needsEnvelopes() && c.count*int64(c.envBytes) > maxEnvelopeMemory {
		return fmt.Errorf("%d envelopes of %d bytes is more than %d GiB signed up front: lower --count or --envelope-bytes",
			c.count, c.envBytes, maxEnvelopeMemory>>30)
	}
	if c.op == "get" && int64(c.prefill)*int64(c.envBytes) > maxEnvelopeMemory {
		return fmt.Errorf("--prefill %d of %d bytes is more than %d GiB", c.prefill, c.envBytes, maxEnvelopeMemory>>30)
	}
	return nil
}

// checkLoopback accepts host:port where host is localhost or a loopback address (127.0.0.0/8, ::1).
func checkLoopback(hostport string) error {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return fmt.Errorf("%q: want HOST:PORT: %w", hostport, err)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("%q: port %q is not 1 to 65535", hostport, port)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("%q is not a loopback address (127.0.0.0/8, ::1, localhost): attestd-load only loads this machine", hostport)
}

// checkLoopbackURL accepts an http or https URL whose host is on loopback.
func checkLoopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("%q: %w", raw, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%q: want an http or https URL", raw)
	}
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	return checkLoopback(net.JoinHostPort(u.Hostname(), port))
}

// parsePIDs reads a comma-separated list of process ids; "" is nil.
func parsePIDs(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		if len(out) == 4096 {
			return nil, fmt.Errorf("more than 4096 process ids")
		}
		out = append(out, n)
	}
	return out, nil
}

// readSmallFile reads a file of at most limit bytes.
func readSmallFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return b, nil
}

// commandDoc is the help text of one command.
func commandDoc(op string) string {
	switch op {
	case "submit":
		return `Signs --count distinct envelopes of --envelope-bytes with a generated --key, then
submits them from --clients concurrent clients: as fast as answers come
(closed loop), or at --rate per second on schedule (open loop). With --limits,
the limits (see "attestd-load limits -help") are measured after the load and
printed beside the results.`
	case "get":
		return `Submits --prefill attestations, then reads them at random until --count or
--duration: half Get by attestation id, half List by subject digest. A read
that answers with another attestation, or List with other than exactly one,
counts as the error WRONG_ANSWER.`
	case "verify":
		return `Records a 5-step chain (source -> fetch -> build -> test -> package) signed by a
generated functionary key, pushes a layout signed by a generated owner key and
a policy binding the packaged file to it, waits for the log to cover the
chain, warms attestd's caches with 20 decisions, then Verifies the packaged
file under load. A denial counts as the error DENIED.`
	case "rekor":
		return `Signs the same envelopes as submit (same size, key, subjects) and uploads them
to a Rekor v1 server as dsse entries with attestd's Rekor client
(internal/rekor, no retries), with the same clients and schedule, so that two
runs of the tool give the attestd/Rekor ratio. CPU is reported for the Rekor
stack's processes (rekor-server, trillian_log_*, and mariadbd/redis-server).`
	case "soak":
		return `Submits at a fixed --rate for --duration, sampling attestd's resident memory
(VmRSS) every second; reports it at the end of a warm-up of 10% of the
duration, at the end and at its maximum, and (end-start)/start. The
envelopes are signed while the soak runs, two seconds of them ahead of its
schedule (at most 256 MiB), so that its length is bounded by --duration
(2h) and not by memory; a submission that had to wait for its envelope is
counted in a note.`
	default:
		return `Measures, one after the other, for --limits-time each: ed25519 verifications per
second with every core (attestation.VerifySignatures on an envelope of
--envelope-bytes, PAE included); PostgreSQL durable single-row commits per
second from 16 connections (a scratch database attestd_load_limits, dropped
after; synchronous_commit on, each INSERT its own transaction); and the
embedded log's appends per second alone (internal/tlog in a temporary
directory with attestd's defaults, 64 appenders of 32-byte entries, each
returned once durably sequenced).`
	}
}
