package gc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
)

// Kind is the jobs kind of a garbage collection run.
const Kind = "gc"

// Harbor's bounds and defaults for the parameters.
const (
	MaxWorkers = 10
	// DefaultTimeWindow is Harbor's default time window, in hours.
	DefaultTimeWindow = 2
	// MaxTimeWindow bounds the time window (a year, in hours).
	MaxTimeWindow = 24 * 366
)

// TombstoneAge is how long a done byte deletion is remembered (doc.go, 5).
const TombstoneAge = 24 * time.Hour

// Params are a run's parameters: Harbor's GC job parameters.
type Params struct {
	DeleteUntagged bool `json:"delete_untagged"`
	DryRun         bool `json:"dry_run"`
	// Workers (1 to 10) is how many sweeps run at once.
	Workers int `json:"workers"`
	// TimeWindow, in hours: links and untagged manifests younger than it
	// are kept.
	TimeWindow int `json:"time_window"`
}

// ParamsError is a parameter refused (Harbor answers 400), in Harbor's
// words where it has some.
type ParamsError struct{ Msg string }

func (e *ParamsError) Error() string { return e.Msg }

func paramsErr(format string, args ...any) error {
	return &ParamsError{Msg: fmt.Sprintf(format, args...)}
}

// ParseParams reads Harbor's job parameters (JSON object text; "" is
// none): workers must be an integer from 1 to 10 (absent: 1), time_window
// an integer of hours, 0 allowed (absent: 2), delete_untagged and dry_run
// booleans (absent: false). Other keys (Harbor's delete_tag) are ignored.
func ParseParams(text string) (Params, error) {
	p := Params{Workers: 1, TimeWindow: DefaultTimeWindow}
	if text == "" {
		return p, nil
	}
	var raw struct {
		DeleteUntagged *bool           `json:"delete_untagged"`
		DryRun         *bool           `json:"dry_run"`
		Workers        json.RawMessage `json:"workers"`
		TimeWindow     json.RawMessage `json:"time_window"`
	}
	if err := json.Unmarshal([]byte(text), &raw); err != nil {
		return p, paramsErr("invalid parameters: %v", err)
	}
	if raw.DeleteUntagged != nil {
		p.DeleteUntagged = *raw.DeleteUntagged
	}
	if raw.DryRun != nil {
		p.DryRun = *raw.DryRun
	}
	if given(raw.Workers) {
		w, err := wholeNumber(raw.Workers)
		if err != nil {
			return p, paramsErr("workers should be integer format")
		}
		if w <= 0 || w > MaxWorkers {
			return p, paramsErr("Error: Invalid number of workers:%s. Workers must be greater than 0 and less than or equal to 10.",
				raw.Workers)
		}
		p.Workers = int(w)
	}
	if given(raw.TimeWindow) {
		h, err := wholeNumber(raw.TimeWindow)
		if err != nil || h < 0 || h > MaxTimeWindow {
			return p, paramsErr("time_window must be a whole number of hours from 0 to %d", MaxTimeWindow)
		}
		p.TimeWindow = int(h)
	}
	return p, nil
}

// given reports whether a parameter was sent (null counts as absent).
func given(raw json.RawMessage) bool { return len(raw) > 0 && string(raw) != "null" }

// wholeNumber reads a JSON number that is an integer (not a string, as
// Harbor, which takes only json.Number).
func wholeNumber(raw json.RawMessage) (int64, error) {
	var n json.Number
	if len(raw) == 0 || raw[0] == '"' {
		return 0, errors.New("not a number")
	}
	if err := json.Unmarshal(raw, &n); err != nil {
		return 0, err
	}
	return n.Int64()
}

// Result is what a run did (a dry run: would do). The first three are
// Harbor's check-in, shown in the run's job_parameters.
type Result struct {
	// FreedSpace is the size of the blobs whose rows were deleted (whose
	// bytes were, or are queued to be, deleted).
	FreedSpace      int64 `json:"freed_space"`
	PurgedBlobs     int64 `json:"purged_blobs"`
	PurgedManifests int64 `json:"purged_manifests"`
	// UnlinkedBlobs counts the links of blobs into repositories removed.
	UnlinkedBlobs int64 `json:"unlinked_blobs"`
	// DeletedBytes counts the blobs whose bytes were deleted, this run's
	// and those queued by earlier runs; FailedBytes the deletions that
	// failed and stay queued for the next run. A dry run reports in
	// FailedBytes nothing, in DeletedBytes the queued deletions it found.
	DeletedBytes int64 `json:"deleted_bytes"`
	FailedBytes  int64 `json:"failed_bytes"`
	// PurgedUploads counts the abandoned uploads removed.
	PurgedUploads int64 `json:"purged_uploads"`
}

// Collector runs garbage collection over a metadata store and a blob
// store.
type Collector struct {
	Meta  meta.GCStore
	Blobs blob.Store
	// SweepUploads, if set, removes upload sessions abandoned past their
	// expiry (registry.SweepUploads) and returns how many.
	SweepUploads func(ctx context.Context) (int, error)
	// CountUploads, if set, counts what SweepUploads would remove (a dry
	// run's figure).
	CountUploads func(ctx context.Context) (int, error)
	// Now, if set, replaces time.Now (tests).
	Now func() time.Time
	// Pace is how long a sweep worker waits after each of its
	// transactions, relative to the time the transaction took (0:
	// DefaultPace; negative: no wait). Pushes share the store with the
	// sweep: on SQLite, its one writer.
	Pace float64
}

// DefaultPace makes a sweep worker wait four times as long as each of its
// transactions took: it holds the store a fifth of the time at most.
const DefaultPace = 4

// Logf writes a line to a run's log.
type Logf func(format string, args ...any)

func (c *Collector) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// Run runs one garbage collection. It stops between two steps when ctx
// is cancelled (a stop), returning ctx's error with what was done so far:
// everything it did is complete in itself, and a later run finishes the
// rest. It may run again after its replica died mid-run (internal/jobs):
// every step re-checks what it deletes.
func (c *Collector) Run(ctx context.Context, p Params, logf Logf) (Result, error) {
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if p.Workers <= 0 {
		p.Workers = 1
	}
	start := c.now()
	// The store keeps milliseconds: what was pushed in the millisecond
	// the run starts is young.
	before := start.Add(-time.Duration(p.TimeWindow) * time.Hour).Truncate(time.Millisecond)
	mode := "garbage collection"
	if p.DryRun {
		mode = "garbage collection (dry run: nothing is deleted)"
	}
	logf("start %s: delete_untagged=%t workers=%d time_window=%dh (content older than %s)",
		mode, p.DeleteUntagged, p.Workers, p.TimeWindow, before.UTC().Format(time.RFC3339))
	plan, err := c.mark(ctx, p, before)
	if err != nil {
		return Result{}, fmt.Errorf("mark: %w", err)
	}
	logf("mark: %d untagged manifests, %d blob links, %d blobs (%d bytes) are garbage; %d byte deletions queued by earlier runs (%s)",
		len(plan.manifests), len(plan.links), len(plan.blobs), plan.bytes, plan.pending, c.now().Sub(start).Round(time.Millisecond))
	if p.DryRun {
		res := Result{FreedSpace: plan.bytes, PurgedBlobs: int64(len(plan.blobs)), PurgedManifests: int64(len(plan.manifests)),
			UnlinkedBlobs: int64(len(plan.links)), DeletedBytes: int64(plan.pending + len(plan.blobs))}
		if c.CountUploads != nil {
			n, err := c.CountUploads(ctx)
			if err != nil {
				return res, fmt.Errorf("counting abandoned uploads: %w", err)
			}
			res.PurgedUploads = int64(n)
		}
		plan.logDetails(logf)
		logf("dry run done: would delete %d manifests, unlink %d blobs, delete %d blobs and free %d bytes, remove %d abandoned uploads",
			res.PurgedManifests, res.UnlinkedBlobs, res.PurgedBlobs, res.FreedSpace, res.PurgedUploads)
		return res, nil
	}
	res, err := c.sweep(ctx, p, plan, before, logf)
	if err != nil {
		logf("stopped: %v", err)
		return res, err
	}
	logf("done in %s: deleted %d manifests, unlinked %d blobs, deleted %d blobs (%d bytes freed); bytes of %d blobs deleted, %d failed (retried next run); %d abandoned uploads removed",
		c.now().Sub(start).Round(time.Millisecond), res.PurgedManifests, res.UnlinkedBlobs, res.PurgedBlobs, res.FreedSpace,
		res.DeletedBytes, res.FailedBytes, res.PurgedUploads)
	return res, nil
}
