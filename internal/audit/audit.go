// Package audit records who did what, from where and when. Records are
// written asynchronously in batches so that a pull never waits for an
// audit write; old records are pruned after the retention period.
package audit

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-registry/berth/internal/meta"
)

// Sink buffers records and writes them in batches.
type Sink struct {
	store meta.AccessStore
	log   *slog.Logger
	ch    chan meta.AuditRecord
	wg    sync.WaitGroup
	once  sync.Once

	// Dropped counts records lost because the buffer was full (metric-ready).
	Dropped atomic.Int64
}

const (
	bufferSize = 8192
	batchSize  = 256
	flushEvery = 200 * time.Millisecond
)

// NewSink starts a sink writing to store.
func NewSink(store meta.AccessStore, log *slog.Logger) *Sink {
	s := &Sink{store: store, log: log, ch: make(chan meta.AuditRecord, bufferSize)}
	s.wg.Add(1)
	go s.run()
	return s
}

// Record queues rec without blocking; a full buffer drops it and counts.
func (s *Sink) Record(rec meta.AuditRecord) {
	if rec.At.IsZero() {
		rec.At = time.Now()
	}
	// The client's address without the port: behind a trusted proxy the
	// port is not known, and it says nothing about who acted.
	if host, _, err := net.SplitHostPort(rec.Remote); err == nil {
		rec.Remote = host
	}
	select {
	case s.ch <- rec:
	default:
		s.Dropped.Add(1)
	}
}

// Close writes what is buffered and stops.
func (s *Sink) Close() {
	s.once.Do(func() { close(s.ch) })
	s.wg.Wait()
}

func (s *Sink) run() {
	defer s.wg.Done()
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	batch := make([]meta.AuditRecord, 0, batchSize)
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		if err := s.store.AppendAudit(ctx, batch); err != nil {
			s.log.Warn("writing audit records", "count", len(batch), "err", err)
			s.Dropped.Add(int64(len(batch)))
		}
		cancel()
		batch = batch[:0]
	}
	for {
		select {
		case rec, ok := <-s.ch:
			if !ok {
				flush()
				return
			}
			batch = append(batch, rec)
			if len(batch) >= batchSize {
				flush()
			}
		case <-t.C:
			flush()
		}
	}
}

// Prune deletes records older than retention (a periodic job).
func Prune(ctx context.Context, store meta.AccessStore, retention time.Duration, log *slog.Logger) error {
	n, err := store.PruneAudit(ctx, time.Now().Add(-retention))
	if n > 0 {
		log.Info("pruned audit records", "count", n)
	}
	return err
}
