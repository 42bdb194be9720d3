package main

import (
	"context"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

// lateAfter is how far behind its schedule an open-loop request may start before it counts as late: every
// client was busy when it was due.
const lateAfter = time.Millisecond

// plan is how a load is driven.
type plan struct {
	name     string   // for the progress line
	kinds    []string // the kinds of operation, when an op makes several (get: Get and List); nil: one
	clients  int
	count    int64         // operations at most
	duration time.Duration // 0: no time bound
	rate     float64       // requests per second on schedule; 0: closed loop
	timeout  time.Duration // per request
	progress io.Writer     // nil: no progress line
	now      func() time.Time
	sleep    func(ctx context.Context, d time.Duration) bool // false if ctx ended first
}

// An op performs the i-th operation of the load (0 <= i < count) from client w. It returns the kind of
// operation it made (an index into plan.kinds; 0 when there is one kind) and an error code ("" for success;
// see grpcCode). It is called from every client at once.
type op func(ctx context.Context, w int, i int64) (kind int, code string)

// outcome is what a load measured.
type outcome struct {
	started   time.Time
	elapsed   time.Duration              // from the start to the last answer
	ok        int64                      // operations that succeeded
	errors    map[string]int64           // failed operations by code
	late      int64                      // open loop: requests that started more than lateAfter behind schedule
	lat       []time.Duration            // latency of every successful operation, sorted
	maxBehind time.Duration              // open loop: the furthest behind schedule a request started
	byKind    map[string][]time.Duration // with several kinds: the latencies of each, sorted
}

// done is every operation that was answered, successfully or not.
func (o *outcome) done() int64 {
	n := o.ok
	for _, c := range o.errors {
		n += c
	}
	return n
}

// worker is one client's share of an outcome; merged when the load ends, so that clients never contend.
type worker struct {
	lat    [][]time.Duration // by kind
	errors map[string]int64
	late   int64
	behind time.Duration
}

// drive runs the load: p.clients clients call do until p.count operations were started or p.duration has
// passed (operations in flight then are finished and counted), or ctx ends.
//
// Closed loop (p.rate == 0): each client starts its next operation when the previous one is answered, and
// latency runs from the start of the call. Open loop: operation i is due at start + i/rate; the client that
// takes it waits until then, and its latency runs from when it was due, not from when a client was free to
// send it, so that time spent queued behind a slow server is charged to the server.
func drive(ctx context.Context, p plan, do op) *outcome {
	if p.now == nil {
		p.now = time.Now
	}
	if p.sleep == nil {
		p.sleep = sleepCtx
	}
	stop := make(chan struct{}) // closed when --duration has passed: no new operations
	// Open-loop waits end with the run too: one context for all of them, not one (and a goroutine) per
	// operation, whose cost the tool would add to the two cores it shares with attestd.
	waitCtx, endWaits := context.WithCancel(ctx)
	defer endWaits()
	var stopOnce sync.Once
	halt := func() { stopOnce.Do(func() { close(stop); endWaits() }) }
	workers := make([]worker, p.clients)
	var next, answered, failed atomic.Int64
	start := p.now()
	if p.duration > 0 {
		t := time.AfterFunc(p.duration, halt)
		defer t.Stop()
	}
	stopProgress := startProgress(p, start, &answered, &failed)
	var wg sync.WaitGroup
	kinds := max(len(p.kinds), 1)
	per := p.count/int64(p.clients*kinds) + 1
	for w := range p.clients {
		workers[w] = worker{lat: make([][]time.Duration, kinds), errors: map[string]int64{}}
		for k := range kinds {
			workers[w].lat[k] = make([]time.Duration, 0, min(per, 1<<16))
		}
		wg.Go(func() {
			st := &workers[w]
			for {
				i := next.Add(1) - 1
				if i >= p.count || stopped(ctx, stop) {
					return
				}
				var due time.Time
				if p.rate > 0 {
					due = start.Add(time.Duration(float64(i) / p.rate * float64(time.Second)))
					if wait := due.Sub(p.now()); wait > 0 {
						if !p.sleep(waitCtx, wait) {
							return
						}
					} else if -wait > lateAfter {
						st.late++
						st.behind = max(st.behind, -wait)
					}
				}
				begin := p.now()
				if p.rate == 0 {
					due = begin
				}
				opCtx, cancel := context.WithTimeout(ctx, p.timeout)
				kind, code := do(opCtx, w, i)
				cancel()
				took := p.now().Sub(due)
				answered.Add(1)
				if code == "" && kind >= 0 && kind < kinds {
					st.lat[kind] = append(st.lat[kind], took)
				} else {
					st.errors[code]++
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := p.now().Sub(start)
	halt()
	stopProgress()
	return merge(start, elapsed, workers, p.kinds)
}

func stopped(ctx context.Context, stop chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return ctx.Err() != nil
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func merge(start time.Time, elapsed time.Duration, workers []worker, kinds []string) *outcome {
	o := &outcome{started: start, elapsed: elapsed, errors: map[string]int64{}}
	n := 0
	for _, w := range workers {
		for _, l := range w.lat {
			n += len(l)
		}
	}
	o.lat = make([]time.Duration, 0, n)
	if len(kinds) > 1 {
		o.byKind = map[string][]time.Duration{}
	}
	for _, w := range workers {
		for k, l := range w.lat {
			o.lat = append(o.lat, l...)
			if o.byKind != nil {
				o.byKind[kinds[k]] = append(o.byKind[kinds[k]], l...)
			}
		}
		for c, k := range w.errors {
			o.errors[c] += k
		}
		o.late += w.late
		o.maxBehind = max(o.maxBehind, w.behind)
	}
	o.ok = int64(len(o.lat))
	sortDurations(o.lat)
	for _, l := range o.byKind {
		sortDurations(l)
	}
	return o
}

// startProgress prints a line every second to p.progress: operations answered, their rate over the last
// second, errors. It returns the function that stops it.
func startProgress(p plan, start time.Time, answered, failed *atomic.Int64) func() {
	if p.progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(time.Second)
		defer tick.Stop()
		var last int64
		lastAt := start
		for {
			select {
			case <-done:
				return
			case now := <-tick.C:
				n := answered.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				fmt.Fprintf(p.progress, "%s %6.0fs  ops %d  %.0f/s  errors %d\n", p.name, now.Sub(start).Seconds(), n, rate, failed.Load())
				last, lastAt = n, now
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
