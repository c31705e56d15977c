package scan

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/scan/match"
)

// rematchPage is how many package lists a re-match reads at once.
const rematchPage = 500

// Rematch matches every stored package list against the active database
// again, reading no layer: images first, then the indexes that summarise
// them. It returns how many reports it updated.
func (s *Scanner) Rematch(ctx context.Context, stop func() bool) (int, error) {
	var indexes []digest.Digest
	n := 0
	var after digest.Digest
	for {
		page, err := s.Store.CataloguedDigests(ctx, after, rematchPage)
		if err != nil {
			return n, err
		}
		if len(page) == 0 {
			break
		}
		for _, d := range page {
			if stop != nil && stop() {
				return n, nil
			}
			if err := s.Yield.Wait(ctx); err != nil { // pushes first
				return n, err
			}
			st, err := s.stored(ctx, d)
			if err != nil {
				return n, err
			}
			if len(st.Children) > 0 {
				indexes = append(indexes, d)
				continue
			}
			if err := s.matchAndStore(ctx, d, st, "", time.Now()); errors.Is(err, match.ErrNoRedHatCPE) {
				// One image's content sets unknown to this database: its
				// report stays as it was, the others are matched.
				s.Log.Warn("re-matching a package list", "digest", d, "err", err)
				continue
			} else if err != nil {
				return n, err
			}
			n++
		}
		after = page[len(page)-1]
	}
	for _, d := range indexes {
		st, err := s.stored(ctx, d)
		if err != nil {
			return n, err
		}
		if err := s.matchAndStore(ctx, d, st, "", time.Now()); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

func (s *Scanner) stored(ctx context.Context, d digest.Digest) (*stored, error) {
	_, data, err := s.Store.Catalogue(ctx, d)
	if err != nil {
		return nil, err
	}
	st := &stored{}
	return st, json.Unmarshal(data, st)
}

// runRematch is the re-match job, run when the database changes.
func (s *Scanner) runRematch(ctx context.Context, run *jobs.Run) error {
	start := time.Now()
	n, err := s.Rematch(ctx, run.StopRequested)
	run.Log("re-matched %d package lists in %s", n, time.Since(start).Round(time.Millisecond))
	return err
}
