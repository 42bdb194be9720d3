package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/attestd/attestd/internal/store/dbtest"
)

// statLine is a /proc/PID/stat line with the given comm, ppid and utime, stime, cutime, cstime.
func statLine(comm string, ppid int, utime, stime, cutime, cstime int64) string {
	f := func(v int64) string { return strconv.FormatInt(v, 10) }
	return "4242 (" + comm + ") S " + strconv.Itoa(ppid) + " 4242 4242 0 -1 4194560 5000 0 12 0 " +
		f(utime) + " " + f(stime) + " " + f(cutime) + " " + f(cstime) + " 20 0 9 0 1234 987654 321 18446744073709551615\n"
}

// writeProc makes a /proc fixture: each process's stat and status, a listening socket of pid 11 on port
// 7700 in net/tcp6, and fd links.
func writeProc(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	write := func(rel, content string) {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu  100 5 50 1000 20 1 2 3 7 0\ncpu0 50 5 25 500 10 1 1 2 7 0\ncpu1 50 0 25 500 10 0 1 1 0 0\nintr 1 2 3\nctxt 99\n")
	write("11/stat", statLine("attestd", 1, 700, 300, 0, 0))
	write("11/status", "Name:\tattestd\nVmPeak:\t  200000 kB\nVmRSS:\t   81920 kB\nThreads:\t12\n")
	write("20/stat", statLine("postgres", 1, 50, 25, 400, 100)) // the postmaster: exited backends in cutime/cstime
	write("21/stat", statLine("postgres", 20, 10, 5, 0, 0))
	write("22/stat", statLine("post gres) (x", 20, 1, 1, 0, 0)) // a comm that tries to confuse the parser
	write("30/stat", statLine("postgres-exporter", 1, 9, 9, 0, 0))
	write("20/cmdline", "/usr/lib/postgresql/15/bin/postgres\x00-D\x00/var/lib/postgresql/15/main\x00")
	write("21/cmdline", "postgres: 15/main: postgres attestd_x 127.0.0.1(5000) idle\x00")
	// Other databases' sessions and workers, and the server-wide processes, with and without a cluster name.
	pg := map[int]string{
		23: "postgres: postgres other 127.0.0.1(5001) INSERT",
		24: "postgres: 15/main: walwriter ",
		25: "postgres: 15/main: parallel worker for PID 21",
		26: "postgres: 15/main: parallel worker for PID 23",
		27: "postgres: 15/main: autovacuum worker other",
		28: "postgres: 15/main: postgres attestd_x [local] idle",
		29: "postgres: 15/main: autovacuum worker attestd_x",
	}
	for pid, cmd := range pg {
		write(strconv.Itoa(pid)+"/stat", statLine("postgres", 20, 1, 1, 0, 0))
		write(strconv.Itoa(pid)+"/cmdline", cmd+"\x00")
	}
	write("net/tcp", "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
		"   0: 0100007F:1E14 0100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 555 1 0 20 4 30 10 -1\n")
	write("net/tcp6", "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"+
		"   0: 00000000000000000000000001000000:1E14 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0 100 0 0 10 0\n"+
		"   1: 00000000000000000000000001000000:1E15 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 778 1 0 100 0 0 10 0\n")
	for pid, links := range map[string][]string{"11": {"socket:[777]", "/dev/null"}, "21": {"socket:[555]"}, "30": {"socket:[778]"}} {
		if err := os.MkdirAll(filepath.Join(root, pid, "fd"), 0o755); err != nil {
			t.Fatal(err)
		}
		for i, l := range links {
			if err := os.Symlink(l, filepath.Join(root, pid, "fd", strconv.Itoa(i))); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

func TestProcFixture(t *testing.T) {
	p := procfs{root: writeProc(t)}
	st, err := p.stat(22)
	if err != nil || st.comm != "post gres) (x" || st.ppid != 20 || st.own != 2 || st.children != 0 {
		t.Fatalf("stat of a tricky comm: %+v, %v", st, err)
	}
	pg, err := p.byComm([]string{"postgres"}, nil)
	if err != nil || !slices.Equal(pg, []int{20, 21, 23, 24, 25, 26, 27, 28, 29}) {
		t.Fatalf("postgres processes %v, %v", pg, err)
	}
	// --pg-db: the database's backends and workers, the server-wide processes; not the other database's.
	if pg, err = p.pgProcesses("attestd_x"); err != nil || !slices.Equal(pg, []int{20, 21, 24, 25, 28, 29}) {
		t.Fatalf("postgres processes of attestd_x %v, %v", pg, err)
	}
	if r, err := p.readCPU(group{name: "postgres", find: fixed(20), ownOnly: true}); err != nil || r.ticks != 75 {
		t.Fatalf("postmaster without its children: %+v, %v", r, err)
	}
	r, err := p.readCPU(group{name: "postgres", find: fixed(20, 21, 99)})
	if err != nil || r.ticks != 50+25+400+100+10+5 || r.procs != 2 || r.gone != 1 {
		t.Fatalf("postgres CPU %+v, %v", r, err)
	}
	if got := float64(r.ticks) / clockTicks; got != 5.9 {
		t.Fatalf("%v CPU seconds, want 5.9", got)
	}
	if busy, steal, cores, err := p.machineBusy(); err != nil || busy != 161 || steal != 3 || cores != 2 {
		t.Fatalf("machine: %d busy ticks, %d of steal, %d cores, %v", busy, steal, cores, err)
	}
	if kib, err := p.rssKiB(11); err != nil || kib != 81920 {
		t.Fatalf("RSS %d KiB, %v", kib, err)
	}
	if _, err := p.rssKiB(20); err == nil {
		t.Fatal("RSS of a process without status")
	}
	// Port 7700 (0x1E14): only the LISTEN socket counts, not the established one of pid 21.
	if l, err := p.listeners(7700); err != nil || !slices.Equal(l, []int{11}) {
		t.Fatalf("listeners on 7700: %v, %v", l, err)
	}
	if l, err := p.listeners(7702); err != nil || len(l) != 0 {
		t.Fatalf("listeners on 7702: %v, %v", l, err)
	}

	// The meter finds attestd by its port, and reports CPU per operation from two readings.
	m := newMeter(&config{op: "submit", server: "127.0.0.1:7700"}, p)
	if err := m.findAttestd(&config{server: "127.0.0.1:7700"}); err != nil || m.attestdPID != 11 {
		t.Fatalf("attestd found as %d, %v", m.attestdPID, err)
	}
	m.setGroups()
	if m.before, err = m.readAll(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(p.root, "11/stat"), []byte(statLine("attestd", 1, 900, 400, 0, 0)), 0o644); err != nil {
		t.Fatal(err)
	}
	if m.after, err = m.readAll(); err != nil {
		t.Fatal(err)
	}
	rep := &report{}
	m.finish(rep, &outcome{ok: 1000, elapsed: 2e9})
	if c := rep.CPU[0]; c.Name != "attestd" || c.Seconds != 3 || c.PerOpUs != 3000 || c.Cores != 1.5 {
		t.Fatalf("attestd figure %+v", c)
	}
}

func TestParseStatRefuses(t *testing.T) {
	for _, bad := range []string{"", "4242 attestd S 1", "4242 (attestd) S 1 2 3", "4242 (x) S notanumber 1 1 0 -1 0 0 0 0 0 1 1 1 1 20",
		"4242 (x) S 1 1 1 0 -1 0 0 0 0 0 -5 1 1 1 20", "4242 (x) S 1 1 1 0 -1 0 0 0 0 0 1 1 1 x 20"} {
		if st, err := parseStat([]byte(bad)); err == nil {
			t.Errorf("parseStat(%q) = %+v", bad, st)
		}
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte(statLine("attestd", 1, 700, 300, 0, 0)))
	f.Add([]byte(statLine("a) (b", 1, 1, 1, 1, 1)))
	f.Add([]byte("1 () S"))
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := parseStat(b)
		if err == nil && (st.own < 0 || st.children < 0) {
			t.Fatalf("negative ticks %+v", st)
		}
	})
}

func FuzzListeningInodes(f *testing.F) {
	f.Add([]byte("   0: 0100007F:1E14 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0 0 777 1\n"), 7700)
	f.Add([]byte("x y z 0A a b c d e f\n"), 0)
	f.Fuzz(func(t *testing.T, table []byte, port int) {
		for ino := range listeningInodes(table, port) {
			if ino == "" {
				t.Fatal("an empty inode")
			}
		}
	})
}

// TestLimits measures the three limits briefly: each is positive, and the scratch database is gone after.
func TestLimits(t *testing.T) {
	dbtest.New(t) // skips, or fails under ATTESTD_REQUIRE_DB=1, without PostgreSQL
	url := os.Getenv(dbtest.EnvURL)
	if url == "" {
		url = dbtest.DefaultURL
	}
	cfg := &config{envBytes: 4096, limitsTime: 300e6, databaseURL: url, limitsDir: t.TempDir()}
	l, err := measureLimits(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if l.PGError != "" || l.LogError != "" {
		t.Fatalf("limits failed: %s / %s", l.PGError, l.LogError)
	}
	if l.Ed25519VerifyPerSec <= 0 || l.PGCommitsPerSec <= 0 || l.LogAppendsPerSec <= 0 || l.PGSettings == "" {
		t.Fatalf("limits %+v", l)
	}
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT count(*) FROM pg_database WHERE datname = $1", limitsDB).Scan(&n); err != nil || n != 0 {
		t.Fatalf("scratch database left behind: %d, %v", n, err)
	}
	if ents, _ := os.ReadDir(cfg.limitsDir); len(ents) != 0 {
		t.Fatalf("the log limit left %d entries in its directory", len(ents))
	}
}

func FuzzParsePGCmdline(f *testing.F) {
	f.Add("postgres: 15/main: postgres attestd 127.0.0.1(5000) idle")
	f.Add("postgres: 15/main: parallel worker for PID 21")
	f.Add("postgres: autovacuum worker db")
	f.Add("/usr/lib/postgresql/15/bin/postgres -D /x")
	f.Fuzz(func(t *testing.T, cmd string) {
		r := parsePGCmdline(cmd)
		if r.db != "" && r.leader != 0 {
			t.Fatalf("%q: both a database and a leader: %+v", cmd, r)
		}
	})
}
