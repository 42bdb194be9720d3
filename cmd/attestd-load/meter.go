package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// maxRSSSamples bounds the RSS samples of a run: one a second for --duration's bound, and some.
const maxRSSSamples = int(maxDuration/time.Second) + 600

// meter reads the CPU time of groups of processes before and after the timed phase, and samples attestd's
// resident memory every second during it.
type meter struct {
	proc       procfs
	op         string
	pgPIDs     []int
	pgDB       string
	attestdPID int // 0: not found
	groups     []group
	before     []cpuReading
	after      []cpuReading
	busy       [2]int64 // the machine's busy ticks before and after; busy[0] < 0: unknown
	steal      [2]int64 // the ticks of steal among them
	cores      int
	rss        []rssSample
	notes      []string
}

type rssSample struct {
	at  time.Duration // since the start of the timed phase
	kib int64
}

func newMeter(cfg *config, proc procfs) *meter {
	return &meter{proc: proc, op: cfg.op, pgPIDs: cfg.pgPIDs, pgDB: cfg.pgDB}
}

// findAttestd sets the process whose CPU and memory are attestd's: --attestd-pid, or the one process
// listening on --server's port, or the one process named attestd. Several candidates need the flag; none
// leaves attestd out of the report, with a note.
func (m *meter) findAttestd(cfg *config) error {
	if cfg.attestdPID > 0 {
		if _, err := m.proc.stat(cfg.attestdPID); err != nil {
			return fmt.Errorf("--attestd-pid %d: %w", cfg.attestdPID, err)
		}
		m.attestdPID = cfg.attestdPID
		return nil
	}
	_, portStr, _ := net.SplitHostPort(cfg.server)
	port, _ := strconv.Atoi(portStr)
	pids, err := m.proc.listeners(port)
	if err != nil {
		return fmt.Errorf("find attestd by its port: %w", err)
	}
	how := fmt.Sprintf("listening on port %d", port)
	if len(pids) == 0 {
		if pids, err = m.proc.byComm([]string{"attestd"}, nil); err != nil {
			return fmt.Errorf("find attestd by name: %w", err)
		}
		how = "named attestd"
	}
	switch len(pids) {
	case 0:
		m.notes = append(m.notes, "attestd's process was not found (not listening on this machine's port, none named attestd): "+
			"no CPU or RSS figures for it; give --attestd-pid")
	case 1:
		m.attestdPID = pids[0]
	default:
		return usagef("several processes %s (%s): give --attestd-pid", how, joinInts(pids))
	}
	return nil
}

// setGroups sets the process groups whose CPU is reported.
func (m *meter) setGroups() {
	self := os.Getpid()
	if m.op == "rekor" {
		m.groups = []group{
			{name: "rekor", find: func() ([]int, error) { return m.proc.byComm([]string{"rekor-server"}, []string{"trillian_log_"}) }},
			{name: "rekor-db", find: func() ([]int, error) { return m.proc.byComm([]string{"mariadbd", "mysqld", "redis-server"}, nil) }},
			{name: "load", find: fixed(self)},
		}
		return
	}
	if m.attestdPID > 0 {
		m.groups = append(m.groups, group{name: "attestd", find: fixed(m.attestdPID)})
	}
	pg := group{name: "postgres", find: func() ([]int, error) { return m.proc.pgProcesses(m.pgDB) }, ownOnly: m.pgDB != ""}
	if m.pgPIDs != nil {
		pg.find = fixed(m.pgPIDs...)
	}
	m.groups = append(m.groups, pg)
	if self != m.attestdPID {
		m.groups = append(m.groups, group{name: "load", find: fixed(self)})
	}
}

func (m *meter) readAll() ([]cpuReading, error) {
	out := make([]cpuReading, len(m.groups))
	for i, g := range m.groups {
		r, err := m.proc.readCPU(g)
		if err != nil {
			return nil, err
		}
		out[i] = r
	}
	return out, nil
}

// measure drives the load between two readings of the groups' CPU times, sampling attestd's RSS meanwhile.
func (m *meter) measure(ctx context.Context, p plan, do op) (*outcome, error) {
	m.setGroups()
	var err error
	if m.before, err = m.readAll(); err != nil {
		return nil, err
	}
	m.busy[0], m.steal[0], m.cores, err = m.proc.machineBusy()
	if err != nil {
		m.busy[0] = -1
	}
	stop := m.sampleRSS()
	o := drive(ctx, p, do)
	if m.after, err = m.readAll(); err != nil {
		return nil, err
	}
	if m.busy[1], m.steal[1], _, err = m.proc.machineBusy(); err != nil {
		m.busy[0] = -1
	}
	stop(o.elapsed)
	if ctx.Err() != nil {
		m.notes = append(m.notes, "interrupted: the figures cover the operations answered until then")
	}
	return o, nil
}

// sampleRSS samples attestd's VmRSS now and every second until the returned function is called, which takes
// one last sample.
func (m *meter) sampleRSS() func(elapsed time.Duration) {
	if m.attestdPID == 0 {
		return func(time.Duration) {}
	}
	start := time.Now()
	var mu sync.Mutex
	take := func(at time.Duration) {
		kib, err := m.proc.rssKiB(m.attestdPID)
		mu.Lock()
		defer mu.Unlock()
		if err == nil && len(m.rss) < maxRSSSamples {
			m.rss = append(m.rss, rssSample{at: at, kib: kib})
		}
	}
	take(0)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case now := <-t.C:
				take(now.Sub(start))
			}
		}
	})
	return func(elapsed time.Duration) {
		close(done)
		wg.Wait()
		take(elapsed)
	}
}

// finish adds the CPU and memory figures and the notes to rep.
func (m *meter) finish(rep *report, o *outcome) {
	wall := o.elapsed.Seconds()
	var counted float64
	for i, g := range m.groups {
		secs := float64(m.after[i].ticks-m.before[i].ticks) / clockTicks
		c := cpuFigure{Name: g.name, Processes: m.after[i].procs, Seconds: secs}
		if o.ok > 0 {
			c.PerOpUs = secs / float64(o.ok) * 1e6
		}
		if wall > 0 {
			c.Cores = secs / wall
		}
		if g.name == "attestd" {
			c.Note = "pid " + strconv.Itoa(m.attestdPID)
		}
		if gone := m.after[i].gone; gone > 0 {
			c.Note = fmt.Sprintf("%d of the processes given had exited", gone)
		}
		rep.CPU = append(rep.CPU, c)
		counted += secs
	}
	if m.busy[0] >= 0 && m.cores > 0 && wall > 0 {
		busy := float64(m.busy[1]-m.busy[0]) / clockTicks
		steal := float64(m.steal[1]-m.steal[0]) / clockTicks
		rep.Machine = &machineFigure{Cores: m.cores, BusySeconds: busy, IdleSeconds: max(float64(m.cores)*wall-busy, 0),
			OtherSeconds: max(busy-steal-counted, 0), StealSeconds: steal}
	}
	rep.RSS = m.rssFigure(o.elapsed)
	rep.Notes = append(rep.Notes, m.notes...)
}

// rssFigure summarizes the RSS samples. The start is the first sample after a warm-up: 10% of the run for a
// soak (attestd's caches and pools fill first), none otherwise.
func (m *meter) rssFigure(elapsed time.Duration) *rssFigure {
	if len(m.rss) == 0 {
		return nil
	}
	warmup := time.Duration(0)
	if m.op == "soak" {
		warmup = elapsed / 10
	}
	f := &rssFigure{PID: m.attestdPID, Samples: len(m.rss)}
	start := m.rss[len(m.rss)-1]
	for _, s := range m.rss {
		if s.at >= warmup {
			start = s
			break
		}
	}
	var maxKiB int64
	for _, s := range m.rss {
		maxKiB = max(maxKiB, s.kib)
	}
	end := m.rss[len(m.rss)-1]
	f.StartMiB, f.EndMiB, f.MaxMiB = float64(start.kib)/1024, float64(end.kib)/1024, float64(maxKiB)/1024
	if start.kib > 0 {
		f.Growth = float64(end.kib-start.kib) / float64(start.kib)
	}
	return f
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
