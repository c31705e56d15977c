package sqlstore

import (
	"cmp"
	"context"
	"slices"

	"github.com/berth-registry/berth/internal/meta"
)

var _ meta.PullStore = (*Store)(nil)

// RecordPulls implements meta.PullStore. Rows are updated table by table
// and in key order, so two replicas flushing at once take their row locks
// in the same order (PostgreSQL) and cannot deadlock each other. A time
// only moves forward, so a late batch never moves one back.
func (s *Store) RecordPulls(ctx context.Context, counts []meta.PullCount, times []meta.PullTime) error {
	counts = slices.SortedFunc(slices.Values(counts), func(a, b meta.PullCount) int { return cmp.Compare(a.Repo, b.Repo) })
	times = slices.SortedFunc(slices.Values(times), func(a, b meta.PullTime) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Digest, b.Digest), cmp.Compare(a.Tag, b.Tag))
	})
	tagged := slices.SortedFunc(slices.Values(times), func(a, b meta.PullTime) int {
		return cmp.Or(cmp.Compare(a.Repo, b.Repo), cmp.Compare(a.Tag, b.Tag))
	})
	return s.inTx(ctx, func(ctx context.Context, tx tx) error {
		for _, c := range counts {
			if c.N <= 0 {
				continue
			}
			if _, err := tx.exec(ctx, `UPDATE repositories SET pull_count = pull_count + ? WHERE name = ?`, c.N, c.Repo); err != nil {
				return err
			}
		}
		for i, p := range times {
			if i > 0 && times[i-1].Repo == p.Repo && times[i-1].Digest == p.Digest {
				continue // one manifest pulled by several tags: the later
			}
			at := latestOf(times[i:], p)
			if _, err := tx.exec(ctx, `UPDATE manifests SET pull_time = ? WHERE repo = ? AND digest = ? AND pull_time < ?`,
				at, p.Repo, string(p.Digest), at); err != nil {
				return err
			}
		}
		for _, p := range tagged {
			if p.Tag == "" {
				continue
			}
			at := p.At.UnixMilli()
			if _, err := tx.exec(ctx, `UPDATE tags SET pull_time = ? WHERE repo = ? AND name = ? AND digest = ? AND pull_time < ?`,
				at, p.Repo, p.Tag, string(p.Digest), at); err != nil {
				return err
			}
		}
		return nil
	})
}

// latestOf is the latest pull time, in Unix milliseconds, of the manifest
// of first among times (sorted, starting with first).
func latestOf(times []meta.PullTime, first meta.PullTime) int64 {
	at := first.At
	for _, p := range times[1:] {
		if p.Repo != first.Repo || p.Digest != first.Digest {
			break
		}
		if p.At.After(at) {
			at = p.At
		}
	}
	return at.UnixMilli()
}
