package tlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"
	"time"
)

// BenchmarkAppendLatency measures one writer's Append latency (sequencing plus fsync) for a few batch ages:
// the floor under Submit's latency at low load.
func BenchmarkAppendLatency(b *testing.B) {
	for _, age := range []time.Duration{time.Millisecond, 10 * time.Millisecond, 50 * time.Millisecond} {
		b.Run(fmt.Sprint("batch-age=", age), func(b *testing.B) {
			k := newTestKey(b, testOrigin)
			l := openTestLog(b, b.TempDir(), k, func(c *Config) { c.BatchMaxAge = age })
			ctx := context.Background()
			entry := make([]byte, 32)
			b.ResetTimer()
			for i := range b.N {
				binary.BigEndian.PutUint64(entry, uint64(i))
				if _, err := l.Append(ctx, entry); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
