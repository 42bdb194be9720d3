package tlog

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// maxMountinfoBytes bounds how much of /proc/self/mountinfo journalLessExt4 reads: thousands of mounts.
const maxMountinfoBytes = 4 << 20

// journalLessExt4 tells whether dir lies on ext4 without a journal, by the mount table and the kernel's
// /proc/fs/ext4 and /proc/fs/jbd2 (proc is /proc but in tests). ext4 without a journal skips, one inode-table
// lookup at a time, every inode freed in the last minute (or six) for each file it creates, and the log creates
// and frees a few hundred small files a second under load: on such a file system that took about 30% of
// attestd's CPU (docs/performance.md). The answer is only ever a hint: ok is false whenever the mount table or
// /proc cannot tell.
func journalLessExt4(proc, dir string) (device, mountPoint string, ok bool) {
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	f, err := os.Open(filepath.Join(proc, "self", "mountinfo"))
	if err != nil {
		return "", "", false
	}
	defer f.Close()
	table, err := io.ReadAll(io.LimitReader(f, maxMountinfoBytes))
	if err != nil {
		return "", "", false
	}
	m, found := mountOf(table, dir)
	if !found || m.fsType != "ext4" || !strings.HasPrefix(m.source, "/dev/") {
		return "", "", false
	}
	name := filepath.Base(m.source)
	if _, err := os.Stat(filepath.Join(proc, "fs", "ext4", name)); err != nil {
		return "", "", false // the kernel knows the device by another name (device mapper): cannot tell
	}
	journals, err := filepath.Glob(filepath.Join(proc, "fs", "jbd2", name+"-*"))
	if err != nil || len(journals) > 0 {
		return "", "", false
	}
	return m.source, m.point, true
}

// mount is one line of /proc/self/mountinfo, the fields journalLessExt4 needs.
type mount struct {
	point  string // where it is mounted, unescaped
	fsType string
	source string
}

// mountOf returns the mount that holds path (absolute, symlinks resolved): the one whose mount point is the
// longest prefix of path, the last listed when two share a point (the later mount hides the earlier).
// Malformed lines are skipped.
func mountOf(mountinfo []byte, path string) (mount, bool) {
	var best mount
	found := false
	for line := range bytes.SplitSeq(mountinfo, []byte{'\n'}) {
		m, ok := parseMountinfoLine(string(line))
		if !ok || !within(path, m.point) {
			continue
		}
		if !found || len(m.point) >= len(best.point) {
			best, found = m, true
		}
	}
	return best, found
}

// parseMountinfoLine reads "id parent major:minor root point options [optional...] - type source superoptions"
// (proc(5)).
func parseMountinfoLine(line string) (mount, bool) {
	fields := strings.Fields(line)
	sep := -1
	for i := 6; i < len(fields); i++ {
		if fields[i] == "-" {
			sep = i
			break
		}
	}
	if sep < 0 || sep+2 >= len(fields) {
		return mount{}, false
	}
	point, ok := unescapeMountinfo(fields[4])
	if !ok || !strings.HasPrefix(point, "/") {
		return mount{}, false
	}
	return mount{point: filepath.Clean(point), fsType: fields[sep+1], source: fields[sep+2]}, true
}

// unescapeMountinfo undoes the kernel's octal escapes of space, tab, newline and backslash ("\040").
func unescapeMountinfo(s string) (string, bool) {
	if !strings.Contains(s, `\`) {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '\\' {
			b.WriteByte(s[i])
			continue
		}
		if i+4 > len(s) {
			return "", false
		}
		v, err := strconv.ParseUint(s[i+1:i+4], 8, 8)
		if err != nil {
			return "", false
		}
		b.WriteByte(byte(v))
		i += 3
	}
	return b.String(), true
}

// within tells whether path is point or lies under it.
func within(path, point string) bool {
	if point == "/" {
		return strings.HasPrefix(path, "/")
	}
	return path == point || strings.HasPrefix(path, point+"/")
}
