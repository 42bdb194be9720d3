package tlog

import (
	"os"
	"path/filepath"
	"testing"
)

const testMountinfo = `21 26 0:20 / /proc rw,relatime - proc proc rw
26 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
30 26 254:16 / /srv rw,relatime shared:5 master:1 - ext4 /dev/vdb rw
31 30 254:32 / /srv/log\040dir rw,relatime - xfs /dev/vdc rw
32 26 0:40 / /data rw - tmpfs tmpfs rw
33 26 254:48 / /data rw - ext4 /dev/vdd rw
garbage line
34 26 1:2 / relative rw - ext4 /dev/vde rw
`

func TestMountOf(t *testing.T) {
	for _, c := range []struct {
		path          string
		point, source string
	}{
		{"/", "/", "/dev/vda"},
		{"/var/lib/attestd/log", "/", "/dev/vda"},
		{"/srv", "/srv", "/dev/vdb"},
		{"/srv/attestd", "/srv", "/dev/vdb"},
		{"/srv/log dir/x", "/srv/log dir", "/dev/vdc"},
		{"/srv/log dirx", "/srv", "/dev/vdb"}, // a prefix of the name is not a parent directory
		{"/data/log", "/data", "/dev/vdd"},    // the later of two mounts on one point hides the earlier
		{"/proc/self", "/proc", "proc"},
	} {
		m, ok := mountOf([]byte(testMountinfo), c.path)
		if !ok || m.point != c.point || m.source != c.source {
			t.Errorf("mountOf(%q) = %+v, %v; want point %q source %q", c.path, m, ok, c.point, c.source)
		}
	}
	if m, ok := mountOf([]byte("garbage\n1 2 3\n"), "/x"); ok {
		t.Errorf("mountOf of a table without mounts = %+v, want none", m)
	}
}

func TestParseMountinfoLine(t *testing.T) {
	for _, line := range []string{
		"",
		"1 2 3:4 / /x rw",                      // no separator
		"1 2 3:4 / /x rw -",                    // nothing after it
		"1 2 3:4 / /x rw - ext4",               // no source
		`1 2 3:4 / /x\04 rw - ext4 /dev/a rw`,  // a cut escape
		`1 2 3:4 / /x\999 rw - ext4 /dev/a rw`, // not octal
		"1 2 3:4 / x rw - ext4 /dev/a rw",      // not absolute
	} {
		if m, ok := parseMountinfoLine(line); ok {
			t.Errorf("parseMountinfoLine(%q) = %+v, want refused", line, m)
		}
	}
	m, ok := parseMountinfoLine(`1 2 3:4 / /a\134b\011c rw - ext4 /dev/a rw`)
	if !ok || m.point != "/a\\b\tc" {
		t.Errorf("escapes: %+v, %v", m, ok)
	}
}

// TestJournalLessExt4 runs the check against a made-up /proc: ext4 on /dev/vda, with and without its journal's
// entry, and a device the kernel names otherwise.
func TestJournalLessExt4(t *testing.T) {
	proc := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		p := filepath.Join(proc, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("self/mountinfo", "26 1 254:0 / / rw - ext4 /dev/vda rw\n27 26 253:0 / /mapped rw - ext4 /dev/mapper/vg-log rw\n"+
		"28 26 0:50 / /mem rw - tmpfs tmpfs rw\n")
	write("fs/ext4/vda/options", "rw\n")
	write("fs/ext4/dm-0/options", "rw\n")

	if dev, point, ok := journalLessExt4(proc, "/var/lib/attestd/log"); !ok || dev != "/dev/vda" || point != "/" {
		t.Errorf("ext4 without a journal: %q %q %v; want /dev/vda / true", dev, point, ok)
	}
	if _, _, ok := journalLessExt4(proc, "/mapped/log"); ok {
		t.Error("a device the kernel names otherwise: want no answer")
	}
	if _, _, ok := journalLessExt4(proc, "/mem/log"); ok {
		t.Error("tmpfs: want no answer")
	}
	write("fs/jbd2/vda-8/info", "")
	if _, _, ok := journalLessExt4(proc, "/var/lib/attestd/log"); ok {
		t.Error("ext4 with its journal: want no warning")
	}
	if _, _, ok := journalLessExt4(filepath.Join(proc, "missing"), "/"); ok {
		t.Error("no mount table: want no answer")
	}
}

func FuzzParseMountinfoLine(f *testing.F) {
	for _, s := range []string{"26 1 254:0 / / rw,relatime - ext4 /dev/vda rw", `31 30 1:2 / /a\040b rw - xfs /dev/c rw`,
		"1 2 3:4 / /x rw shared:1 - ext4 /dev/a rw", `1 2 3 4 /\ - a b`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		m, ok := parseMountinfoLine(line)
		if !ok {
			return
		}
		if m.point == "" || m.point[0] != '/' || m.fsType == "" || m.source == "" {
			t.Fatalf("accepted %q as %+v", line, m)
		}
		if filepath.Clean(m.point) != m.point || !within(m.point+"/x", m.point) {
			t.Fatalf("mount point %q of %q is not a clean directory path", m.point, line)
		}
	})
}
