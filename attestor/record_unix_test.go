//go:build unix

package attestor

import (
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestRecordRefusesPipe(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o644); err != nil {
		t.Skip("cannot make a FIFO:", err)
	}
	_, err := (&Recorder{Dir: dir}).Record(t.Context(), []string{"."})
	if err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("err = %v, want a refusal of the FIFO", err)
	}
}
