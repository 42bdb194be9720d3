package tlog

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"
)

// BenchmarkAppend measures sequenced appends per second from many concurrent writers, 1 KiB entries, with
// the default batching (DefaultBatchMaxSize entries / 50 ms) and checkpoint interval. Each Append returns once its entry is
// durably sequenced (fsynced), not when its checkpoint is published.
func BenchmarkAppend(b *testing.B) {
	k := newTestKey(b, testOrigin)
	l := openTestLog(b, b.TempDir(), k, func(c *Config) {
		c.BatchMaxAge = DefaultBatchMaxAge
		c.CheckpointInterval = DefaultCheckpointInterval
	})
	ctx := context.Background()
	var n atomic.Uint64
	b.SetParallelism(128)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		entry := make([]byte, 1024)
		for pb.Next() {
			binary.BigEndian.PutUint64(entry, n.Add(1)) // distinct entries: no antispam shortcut
			if _, err := l.Append(ctx, entry); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
