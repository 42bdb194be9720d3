package sqlite_test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/attestd/attestd/internal/store/sqlite"
)

// crashEnv names the database file of the writer process that TestKilledWriterKeepsAcknowledgedWrites starts
// (this test binary, running only that test).
const crashEnv = "ATTESTD_SQLITE_CRASH_DB"

// TestKilledWriterKeepsAcknowledgedWrites: a process that inserts attestations and reports each one as soon as
// InsertAttestation returns is killed with SIGKILL mid-stream; every attestation it reported is in the file
// afterwards. (A power cut is beyond a test; synchronous=FULL, which TestPragmas checks, is what covers it.)
func TestKilledWriterKeepsAcknowledgedWrites(t *testing.T) {
	if path := os.Getenv(crashEnv); path != "" {
		crashWriter(t, path)
		return
	}
	if testing.Short() {
		t.Skip("starts a process")
	}
	path := newDB(t)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestKilledWriterKeepsAcknowledgedWrites$")
	cmd.Env = append(os.Environ(), crashEnv+"="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []int
	lines := bufio.NewScanner(out)
	for len(acked) < 200 && lines.Scan() {
		if n, ok := strings.CutPrefix(lines.Text(), "acked "); ok {
			i, err := strconv.Atoi(n)
			if err != nil {
				t.Fatal(err)
			}
			acked = append(acked, i)
		}
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if len(acked) < 200 {
		t.Fatalf("the writer acknowledged %d inserts before it stopped, want 200", len(acked))
	}
	st := open(t, path)
	p, err := st.ProjectByName(t.Context(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	for _, i := range acked {
		a := newAttestation(p.ID, fmt.Sprint("crash-", i), uint64(i))
		if _, err := st.GetAttestation(t.Context(), p.ID, a.ID); err != nil {
			t.Errorf("acknowledged attestation %d after the kill: %v", i, err)
		}
	}
}

// crashWriter is the process that gets killed: it inserts attestations until then (or for a minute at most),
// printing "acked N" once insert N returned.
func crashWriter(t *testing.T, path string) {
	st, err := sqlite.Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := st.CreateProject(t.Context(), "crash")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for i := 0; time.Now().Before(deadline); i++ {
		if _, _, err := st.InsertAttestation(t.Context(), newAttestation(p.ID, fmt.Sprint("crash-", i), uint64(i))); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(os.Stdout, "acked %d\n", i)
	}
	t.Fatal("not killed within a minute")
}
