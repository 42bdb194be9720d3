package server

import (
	"log/slog"
	"sync/atomic"
	"time"
)

// monotonicClock is the time attestd gives integrations, decisions and expiry checks: the wall clock, but never
// earlier than a time it gave before, nor earlier than the newest integration time in the database (set at
// start-up by Reconcile). A system clock set back (by mistake, or to revive an expired key or layout) does not
// make attestd's time go back: what expired stays expired, and an attestation integrated after a key expired
// is never dated before it.
type monotonicClock struct {
	wall   func() time.Time
	floor  atomic.Int64 // unix microseconds: the latest time given
	behind atomic.Bool  // whether the wall clock was behind at the last reading (to log once per episode)
	logger *slog.Logger
}

func newMonotonicClock(wall func() time.Time, logger *slog.Logger) *monotonicClock {
	return &monotonicClock{wall: wall, logger: logger}
}

// now returns max(wall clock, every time returned before), in UTC, to the microsecond (what the database keeps,
// so that an answer and a later read agree).
func (c *monotonicClock) now() time.Time {
	t := c.wall().UTC().Truncate(time.Microsecond)
	us := t.UnixMicro()
	for {
		f := c.floor.Load()
		if us <= f {
			if us < f && !c.behind.Swap(true) {
				c.logger.Warn("the system clock is behind the latest time attestd gave; keeping the latter until the clock catches up",
					"system_clock", t, "attestd_time", time.UnixMicro(f).UTC())
			}
			return time.UnixMicro(f).UTC()
		}
		if c.floor.CompareAndSwap(f, us) {
			if c.behind.Swap(false) {
				c.logger.Info("the system clock has caught up with attestd's time")
			}
			return t
		}
	}
}

// raise makes t the earliest time now may return from here on, if it is later than that already.
func (c *monotonicClock) raise(t time.Time) {
	us := t.UnixMicro()
	for {
		f := c.floor.Load()
		if us <= f || c.floor.CompareAndSwap(f, us) {
			return
		}
	}
}
