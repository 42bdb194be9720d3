package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"
)

// report is the result of a run, as printed (text or --json).
type report struct {
	Command       string  `json:"command"`
	Target        string  `json:"target"` // attestd's address or Rekor's URL
	Project       string  `json:"project,omitempty"`
	Clients       int     `json:"clients"`
	Conns         int     `json:"conns"`
	Loop          string  `json:"loop"` // "closed" or "open"
	Rate          float64 `json:"rate,omitempty"`
	EnvelopeBytes int     `json:"envelopeBytes,omitempty"`
	Subjects      int     `json:"subjects,omitempty"`
	Key           string  `json:"key,omitempty"`

	Ops             int64              `json:"ops"` // answered, successfully or not
	OK              int64              `json:"ok"`
	Errors          map[string]int64   `json:"errors"`
	DurationSeconds float64            `json:"durationSeconds"`
	Throughput      float64            `json:"throughput"` // successful operations per second
	Latency         latency            `json:"latencyMs"`
	ByKind          map[string]latency `json:"latencyMsByKind,omitempty"`
	Late            int64              `json:"lateStarts,omitempty"`
	MaxBehindMs     float64            `json:"maxBehindMs,omitempty"`

	CPU     []cpuFigure    `json:"cpu"`
	Machine *machineFigure `json:"machine,omitempty"`
	RSS     *rssFigure     `json:"rss,omitempty"`
	Limits  *limits        `json:"limits,omitempty"`
	Notes   []string       `json:"notes,omitempty"`
}

// latency are percentiles of the successful operations' latencies, in milliseconds (nearest rank).
type latency struct {
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p999"`
	Max  float64 `json:"max"`
}

// cpuFigure is the CPU time a group of processes used during the timed phase.
type cpuFigure struct {
	Name      string  `json:"name"`
	Processes int     `json:"processes"` // at the end of the phase
	Seconds   float64 `json:"seconds"`
	PerOpUs   float64 `json:"perOpMicros"` // per successful operation
	Cores     float64 `json:"cores"`       // seconds / wall seconds
	Note      string  `json:"note,omitempty"`
}

// machineFigure is the whole machine's CPU during the timed phase, from /proc/stat: how busy it was, and how
// much of that was neither attestd, PostgreSQL nor the load tool (other work skews the figures).
type machineFigure struct {
	Cores        int     `json:"cores"`
	BusySeconds  float64 `json:"busySeconds"`
	IdleSeconds  float64 `json:"idleSeconds"`
	OtherSeconds float64 `json:"otherSeconds"` // busy, but neither steal nor in the groups above
	StealSeconds float64 `json:"stealSeconds"` // busy in the hypervisor's count: the virtual cores were not ours
}

// rssFigure is attestd's resident memory over the run, in MiB.
type rssFigure struct {
	PID      int     `json:"pid"`
	StartMiB float64 `json:"startMiB"` // at the start of the timed phase, or (soak) after its warm-up
	EndMiB   float64 `json:"endMiB"`
	MaxMiB   float64 `json:"maxMiB"`
	Growth   float64 `json:"growth"` // (end-start)/start
	Samples  int     `json:"samples"`
}

func sortDurations(d []time.Duration) { slices.Sort(d) }

// percentile returns the nearest-rank percentile of sorted: the smallest sample that at least
// perMille/1000 of the samples do not exceed. perMille is 500 for the median, 990 for p99.
func percentile(sorted []time.Duration, perMille int) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := (perMille*n + 999) / 1000
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func summarize(sorted []time.Duration) latency {
	if len(sorted) == 0 {
		return latency{}
	}
	var sum time.Duration
	for _, d := range sorted {
		sum += d
	}
	return latency{
		N:    len(sorted),
		Mean: ms(sum / time.Duration(len(sorted))),
		P50:  ms(percentile(sorted, 500)),
		P90:  ms(percentile(sorted, 900)),
		P99:  ms(percentile(sorted, 990)),
		P999: ms(percentile(sorted, 999)),
		Max:  ms(sorted[len(sorted)-1]),
	}
}

// fill sets the report's figures from an outcome.
func (r *report) fill(o *outcome) {
	r.Ops, r.OK, r.Errors = o.done(), o.ok, o.errors
	r.DurationSeconds = o.elapsed.Seconds()
	if r.DurationSeconds > 0 {
		r.Throughput = float64(o.ok) / r.DurationSeconds
	}
	r.Latency = summarize(o.lat)
	if o.byKind != nil {
		r.ByKind = map[string]latency{}
		for k, l := range o.byKind {
			r.ByKind[k] = summarize(l)
		}
	}
	r.Late, r.MaxBehindMs = o.late, ms(o.maxBehind)
}

func (r *report) print(w io.Writer, asJSON bool) error {
	if asJSON {
		return writeJSON(w, r)
	}
	pf := func(format string, args ...any) { fmt.Fprintf(w, format, args...) }
	pf("attestd-load %s against %s", r.Command, r.Target)
	if r.Project != "" {
		pf(", project %s", r.Project)
	}
	pf("\n%d client(s) on %d connection(s), %s loop", r.Clients, r.Conns, r.Loop)
	if r.Loop == "open" {
		pf(" at %g/s", r.Rate)
	}
	if r.EnvelopeBytes > 0 {
		pf(", %d-byte %s envelopes, %d subject(s)", r.EnvelopeBytes, r.Key, r.Subjects)
	}
	pf("\n")
	pf("ops          %d (ok %d, errors %d)\n", r.Ops, r.OK, r.Ops-r.OK)
	pf("duration     %.2f s\n", r.DurationSeconds)
	pf("throughput   %.1f ops/s\n", r.Throughput)
	pf("latency ms   %s\n", r.Latency)
	for _, k := range slices.Sorted(maps.Keys(r.ByKind)) {
		pf("  %-10s %s\n", k, r.ByKind[k])
	}
	if r.Loop == "open" {
		pf("late starts  %d (max %.1f ms behind schedule; more --clients if not 0)\n", r.Late, r.MaxBehindMs)
	}
	pf("errors       %s\n", errorLine(r.Errors))
	for _, c := range r.CPU {
		pf("cpu %-8s %.2f s, %.1f µs/op, %.2f cores (%d process(es))", c.Name, c.Seconds, c.PerOpUs, c.Cores, c.Processes)
		if c.Note != "" {
			pf("; %s", c.Note)
		}
		pf("\n")
	}
	if m := r.Machine; m != nil {
		pf("cpu machine  %.2f s busy of %.2f s (%d cores), idle %.2f s; other processes %.2f s; steal %.2f s\n",
			m.BusySeconds, m.BusySeconds+m.IdleSeconds, m.Cores, m.IdleSeconds, m.OtherSeconds, m.StealSeconds)
	}
	if r.RSS != nil {
		pf("rss attestd  pid %d: start %.1f MiB, end %.1f MiB, max %.1f MiB, growth %+.1f%% (%d samples)\n",
			r.RSS.PID, r.RSS.StartMiB, r.RSS.EndMiB, r.RSS.MaxMiB, 100*r.RSS.Growth, r.RSS.Samples)
	}
	if r.Limits != nil {
		r.Limits.print(w)
	}
	for _, n := range r.Notes {
		pf("note: %s\n", n)
	}
	return nil
}

func (l latency) String() string {
	if l.N == 0 {
		return "no successful operation"
	}
	return fmt.Sprintf("p50 %.2f  p90 %.2f  p99 %.2f  p99.9 %.2f  max %.2f  mean %.2f  (n %d)", l.P50, l.P90, l.P99, l.P999, l.Max, l.Mean, l.N)
}

func errorLine(errs map[string]int64) string {
	if len(errs) == 0 {
		return "none"
	}
	var parts []string
	for _, c := range slices.Sorted(maps.Keys(errs)) {
		parts = append(parts, fmt.Sprintf("%s %d", c, errs[c]))
	}
	return strings.Join(parts, ", ")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
