package scan

import (
	"context"
	"errors"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/jobs"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/scan/catalog"
)

// KindScanAll is Harbor's scan-all (/system/scanAll): one job, one at a
// time, that visits every artifact in turn. It never floods the queue
// (Harbor's scan-all queues a job per artifact and starves pushes'
// scans): an artifact whose package list is current is only matched
// again; the others are catalogued, one at a time.
const KindScanAll = "scan_all"

// ScanAllSchedule names its schedule.
const ScanAllSchedule = "scan_all"

// ScanAllResult is the progress a scan-all reports (its execution's
// result, Harbor's Stats).
type ScanAllResult struct {
	Total     int `json:"total"`
	Completed int `json:"completed"`
	Success   int `json:"success"`
	Error     int `json:"error"`
}

// scanAllPage is how many artifacts a scan-all reads at once.
const scanAllPage = 200

// runScanAll is the scan-all job.
func (s *Scanner) runScanAll(ctx context.Context, run *jobs.Run) error {
	var res ScanAllResult
	done := map[digest.Digest]bool{}
	var afterRepo string
	var afterDigest digest.Digest
	last := time.Now()
	for {
		page, err := s.Store.ScanCandidates(ctx, afterRepo, afterDigest, scanAllPage)
		if err != nil {
			return err
		}
		if len(page) == 0 {
			break
		}
		for _, c := range page {
			if run.StopRequested() || ctx.Err() != nil {
				_ = run.SetResult(res)
				return ctx.Err()
			}
			if done[c.Digest] {
				continue
			}
			done[c.Digest] = true
			if err := s.Yield.Wait(ctx); err != nil { // pushes first
				_ = run.SetResult(res)
				return err
			}
			res.Total++
			if err := s.scanOne(ctx, run, c); errors.Is(err, ErrNotScannable) {
				res.Total--
				continue
			} else if err != nil {
				res.Error++
				run.Log("%s@%s: %v", c.Repo, c.Digest, err)
			} else {
				res.Success++
			}
			res.Completed++
			if time.Since(last) > time.Second {
				_ = run.SetResult(res)
				last = time.Now()
			}
		}
		afterRepo, afterDigest = page[len(page)-1].Repo, page[len(page)-1].Digest
	}
	run.Log("scan-all: %d artifacts, %d scanned, %d failed", res.Total, res.Success, res.Error)
	return run.SetResult(res)
}

// scanOne brings c's report up to date: a re-match of a current package
// list, else a scan.
func (s *Scanner) scanOne(ctx context.Context, run *jobs.Run, c meta.ScanCandidate) error {
	m, err := s.Store.GetManifest(ctx, c.Repo, string(c.Digest), true)
	if err != nil {
		return err
	}
	if !Scannable(m) {
		return ErrNotScannable
	}
	start := time.Now()
	if an, _, err := s.Store.Catalogue(ctx, c.Digest); err == nil && an == catalog.Version {
		st, err := s.stored(ctx, c.Digest)
		if err != nil {
			return err
		}
		return s.matchAndStore(ctx, c.Digest, st, "", start)
	}
	p := params{Repo: c.Repo, Digest: c.Digest, ReportID: newReportID()}
	running := s.markRunning(ctx, p, start)
	st, err := s.catalogue(ctx, run, c.Repo, c.Digest)
	running.end()
	if err == nil {
		err = s.matchAndStore(ctx, c.Digest, st, p.ReportID, start)
	}
	if err != nil && !errors.Is(err, ErrNotScannable) {
		s.setStatus(ctx, p, meta.JobError, start, time.Now())
	}
	return err
}
