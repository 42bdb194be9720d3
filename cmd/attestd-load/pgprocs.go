package main

import (
	"bytes"
	"strconv"
	"strings"
)

// A PostgreSQL server shared with other work (other databases, other tests) makes "every postgres process"
// an overcount. With --pg-db the tool counts only what serves that database: its backends, its autovacuum
// workers, the parallel workers of its backends, and the server-wide processes every commit needs
// (postmaster, WAL writer, checkpointer, background writer), whose work for other databases still counts.
// Children that exited are then not counted at all (their time lands in the postmaster's cutime, which
// would bring in every other database's short-lived sessions): attestd's pool keeps its connections open.

// pgRole is what a PostgreSQL process does, read from its command line as the server sets it:
// "postgres: [cluster: ]user db host(port) state" for a backend, "postgres: [cluster: ]walwriter" for the
// others, and the plain program path for the postmaster.
type pgRole struct {
	db     string // the database of a backend or an autovacuum worker; "" for a server-wide process
	leader int    // a parallel worker's leader backend
}

func parsePGCmdline(cmd string) pgRole {
	rest, ok := strings.CutPrefix(cmd, "postgres: ")
	if !ok {
		return pgRole{} // the postmaster
	}
	f := strings.Fields(rest)
	if len(f) > 0 && strings.HasSuffix(f[0], ":") {
		f = f[1:] // cluster_name
	}
	switch {
	case len(f) >= 3 && (f[2] == "[local]" || strings.HasSuffix(f[2], ")")):
		return pgRole{db: f[1]}
	case len(f) >= 3 && f[0] == "autovacuum" && f[1] == "worker":
		return pgRole{db: f[2]}
	case len(f) >= 5 && f[0] == "parallel" && f[1] == "worker" && f[2] == "for" && f[3] == "PID":
		n, _ := strconv.Atoi(f[4])
		return pgRole{leader: n}
	}
	return pgRole{}
}

// cmdline returns /proc/PID/cmdline with its NUL separators as spaces.
func (p procfs) cmdline(pid int) (string, error) {
	b, err := p.read(pid, "cmdline")
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(bytes.ReplaceAll(b, []byte{0}, []byte{' '}))), nil
}

// pgProcesses returns the postgres processes that serve db (see above); db "" is every postgres process.
func (p procfs) pgProcesses(db string) ([]int, error) {
	all, err := p.byComm([]string{"postgres"}, nil)
	if err != nil || db == "" {
		return all, err
	}
	roles := map[int]pgRole{}
	for _, pid := range all {
		cmd, err := p.cmdline(pid)
		if err != nil {
			continue // exited meanwhile
		}
		roles[pid] = parsePGCmdline(cmd)
	}
	ours := func(r pgRole) bool { return r.db == "" || r.db == db }
	var out []int
	for _, pid := range all {
		r, ok := roles[pid]
		if !ok {
			continue
		}
		if r.leader != 0 {
			if l, ok := roles[r.leader]; !ok || !ours(l) {
				continue
			}
		} else if !ours(r) {
			continue
		}
		out = append(out, pid)
	}
	return out, nil
}
