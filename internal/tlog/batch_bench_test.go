package tlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppendBatching measures appends per second from 64 writers, attestd's Submit concurrency in
// docs/performance.md, for batch settings around the defaults: with fewer writers than the batch size, a
// batch is cut by its age, so the age bounds the rate (64 entries per age at most).
func BenchmarkAppendBatching(b *testing.B) {
	for _, c := range []struct {
		size uint
		age  time.Duration
	}{{256, 50 * time.Millisecond}, {256, 10 * time.Millisecond}, {256, 2 * time.Millisecond}, {32, 50 * time.Millisecond}, {16, 50 * time.Millisecond}} {
		b.Run(fmt.Sprintf("size=%d/age=%s", c.size, c.age), func(b *testing.B) {
			k := newTestKey(b, testOrigin)
			l := openTestLog(b, b.TempDir(), k, func(cfg *Config) {
				cfg.BatchMaxSize = c.size
				cfg.BatchMaxAge = c.age
				cfg.CheckpointInterval = DefaultCheckpointInterval
			})
			ctx := context.Background()
			var n atomic.Uint64
			var wg sync.WaitGroup
			b.ResetTimer()
			for range 64 {
				wg.Go(func() {
					entry := make([]byte, 32)
					for {
						i := n.Add(1)
						if i > uint64(b.N) {
							return
						}
						binary.BigEndian.PutUint64(entry, i)
						if _, err := l.Append(ctx, entry); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
