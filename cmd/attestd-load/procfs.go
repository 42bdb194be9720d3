package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of the times in /proc/PID/stat: 100 on every Linux architecture the kernel
// exports to user space (getconf CLK_TCK prints it).
const clockTicks = 100

// maxProcFile bounds what is read of one /proc file.
const maxProcFile = 64 << 10

// procStat is what the tool uses of /proc/PID/stat.
type procStat struct {
	comm string
	ppid int
	// own is utime+stime (fields 14 and 15): the process's CPU time, all its threads. children is
	// cutime+cstime (16 and 17): that of its children that exited and were waited for. The postmaster waits
	// for its backends, so a backend that exits between two readings still counts, in the postmaster's.
	own, children int64
}

// parseStat parses the contents of /proc/PID/stat. comm (field 2) is in parentheses and may itself contain
// spaces and parentheses, so the fields after it are found from the last ')'.
func parseStat(b []byte) (procStat, error) {
	open, closing := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return procStat{}, errors.New("stat: no (comm)")
	}
	fields := strings.Fields(string(b[closing+1:]))
	// fields[0] is field 3 (state), so field n is fields[n-3].
	if len(fields) < 15 {
		return procStat{}, fmt.Errorf("stat: %d fields after comm, want at least 15", len(fields))
	}
	ppid, err := strconv.Atoi(fields[1])
	if err != nil {
		return procStat{}, fmt.Errorf("stat: ppid %q: %w", fields[1], err)
	}
	var ticks [4]int64
	for n := 14; n <= 17; n++ {
		v, err := strconv.ParseInt(fields[n-3], 10, 64)
		if err != nil || v < 0 || v > 1<<53 {
			return procStat{}, fmt.Errorf("stat: field %d %q is not a tick count", n, fields[n-3])
		}
		ticks[n-14] = v
	}
	return procStat{comm: string(b[open+1 : closing]), ppid: ppid, own: ticks[0] + ticks[1], children: ticks[2] + ticks[3]}, nil
}

// procfs reads a /proc tree (a fixture in tests).
type procfs struct{ root string }

func (p procfs) read(pid int, name string) ([]byte, error) {
	f, err := os.Open(filepath.Join(p.root, strconv.Itoa(pid), name))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b := make([]byte, maxProcFile)
	n, err := f.Read(b)
	if err != nil {
		return nil, fmt.Errorf("read /proc/%d/%s: %w", pid, name, err)
	}
	return b[:n], nil
}

func (p procfs) stat(pid int) (procStat, error) {
	b, err := p.read(pid, "stat")
	if err != nil {
		return procStat{}, err
	}
	st, err := parseStat(b)
	if err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/%w", pid, err)
	}
	return st, nil
}

// rssKiB returns VmRSS of /proc/PID/status, in KiB.
func (p procfs) rssKiB(pid int) (int64, error) {
	b, err := p.read(pid, "status")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) != 2 || f[1] != "kB" {
				return 0, fmt.Errorf("/proc/%d/status: VmRSS %q", pid, rest)
			}
			return strconv.ParseInt(f[0], 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS (a kernel thread, or an exited process)", pid)
}

// pids lists the processes of the tree.
func (p procfs) pids() ([]int, error) {
	ents, err := os.ReadDir(p.root)
	if err != nil {
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if n, err := strconv.Atoi(e.Name()); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out, nil
}

// byComm returns the processes whose comm is one of names, or starts with one of prefixes.
func (p procfs) byComm(names, prefixes []string) ([]int, error) {
	all, err := p.pids()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range all {
		st, err := p.stat(pid)
		if err != nil {
			continue // exited meanwhile
		}
		if slices.Contains(names, st.comm) || slices.ContainsFunc(prefixes, func(pre string) bool { return strings.HasPrefix(st.comm, pre) }) {
			out = append(out, pid)
		}
	}
	return out, nil
}

// listeners returns the processes holding a listening TCP socket on port (IPv4 or IPv6), from
// /proc/net/tcp{,6} and the processes' file descriptors.
func (p procfs) listeners(port int) ([]int, error) {
	inodes := map[string]bool{}
	for _, name := range []string{"tcp", "tcp6"} {
		b, err := os.ReadFile(filepath.Join(p.root, "net", name))
		if err != nil {
			continue
		}
		for ino := range listeningInodes(b, port) {
			inodes[ino] = true
		}
	}
	if len(inodes) == 0 {
		return nil, nil
	}
	all, err := p.pids()
	if err != nil {
		return nil, err
	}
	var out []int
	for _, pid := range all {
		fds, err := os.ReadDir(filepath.Join(p.root, strconv.Itoa(pid), "fd"))
		if err != nil {
			continue
		}
		for _, fd := range fds {
			target, err := os.Readlink(filepath.Join(p.root, strconv.Itoa(pid), "fd", fd.Name()))
			if ino, ok := strings.CutPrefix(target, "socket:["); err == nil && ok && inodes[strings.TrimSuffix(ino, "]")] {
				out = append(out, pid)
				break
			}
		}
	}
	return out, nil
}

// listeningInodes returns the inodes of the sockets in LISTEN state (0A) on port in a /proc/net/tcp table.
func listeningInodes(table []byte, port int) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(table))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		// sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		_, hexPort, ok := strings.Cut(f[1], ":")
		if n, err := strconv.ParseUint(hexPort, 16, 16); !ok || err != nil || int(n) != port {
			continue
		}
		out[f[9]] = true
	}
	return out
}

// group is a set of processes whose CPU time is reported together.
type group struct {
	name    string
	find    func() ([]int, error) // the processes at the moment of a reading
	ownOnly bool                  // leave out the CPU time of exited children
}

// cpuReading is a group's CPU ticks at one moment.
type cpuReading struct {
	ticks int64
	procs int
	gone  int // processes named explicitly that were not there
}

func (p procfs) readCPU(g group) (cpuReading, error) {
	pids, err := g.find()
	if err != nil {
		return cpuReading{}, fmt.Errorf("%s processes: %w", g.name, err)
	}
	var r cpuReading
	for _, pid := range pids {
		st, err := p.stat(pid)
		if err != nil {
			r.gone++
			continue
		}
		r.ticks += st.own
		if !g.ownOnly {
			r.ticks += st.children
		}
		r.procs++
	}
	return r, nil
}

// machineBusy returns the CPU ticks the whole machine spent busy (user, nice, system, irq, softirq, steal:
// everything but idle and iowait) and of those the ticks of steal (time the hypervisor gave this machine's
// virtual cores to someone else), from the first line of /proc/stat, and the number of cores.
func (p procfs) machineBusy() (busy, steal int64, cores int, err error) {
	f, err := os.Open(filepath.Join(p.root, "stat"))
	if err != nil {
		return 0, 0, 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 4096), 1<<20)
	found := false
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		switch {
		case len(fields) > 0 && fields[0] == "cpu":
			if len(fields) < 9 {
				return 0, 0, 0, fmt.Errorf("/proc/stat: cpu line of %d fields", len(fields))
			}
			// user nice system idle iowait irq softirq steal (guest time is inside user)
			for _, i := range []int{1, 2, 3, 6, 7, 8} {
				v, err := strconv.ParseInt(fields[i], 10, 64)
				if err != nil || v < 0 {
					return 0, 0, 0, fmt.Errorf("/proc/stat: cpu field %d %q", i, fields[i])
				}
				busy += v
				if i == 8 {
					steal = v
				}
			}
			found = true
		case len(fields) > 0 && strings.HasPrefix(fields[0], "cpu"):
			cores++
		}
	}
	if !found {
		return 0, 0, 0, errors.New("/proc/stat: no cpu line")
	}
	return busy, steal, cores, sc.Err()
}

// fixed is a group of the given processes.
func fixed(pids ...int) func() ([]int, error) {
	return func() ([]int, error) { return pids, nil }
}
