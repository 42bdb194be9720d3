package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

func TestProgress(t *testing.T) {
	var buf bytes.Buffer
	p := &progress{w: &buf, label: "hashing products", start: time.Now()}
	p.update(0, 4<<20)
	p.finish()
	if buf.Len() != 0 {
		t.Fatalf("a bar for a small, fast job: %q", buf.String())
	}

	p = &progress{w: &buf, label: "hashing products", start: time.Now()}
	p.update(0, 1<<30)
	p.update(1<<29, 1<<30) // within progressEvery of the last draw: skipped
	p.update(1<<30, 1<<30) // the end is always drawn
	p.finish()
	lines := strings.Split(buf.String(), "\r")
	if len(lines) != 3 || !strings.HasPrefix(lines[2], "hashing products [==============================] 100% 1.0 GiB/1.0 GiB") ||
		!strings.HasSuffix(buf.String(), "\n") {
		t.Errorf("bar = %q", buf.String())
	}
	if newProgress(&buf, "x") != nil {
		t.Error("a bar on something that is not a terminal")
	}
	var none *progress
	if none.callback() != nil {
		t.Error("no bar should mean no callback")
	}
	none.finish()
}

func TestByteSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 3 << 20: "3.0 MiB", 5 << 40: "5.0 TiB"} {
		if got := byteSize(n); got != want {
			t.Errorf("byteSize(%d) = %q, want %q", n, got, want)
		}
	}
}
