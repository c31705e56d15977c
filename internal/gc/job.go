package gc

import (
	"context"

	"github.com/berth-registry/berth/internal/jobs"
)

// Schedule is the name of the garbage collection schedule.
const Schedule = "gc"

// Handler is the jobs handler of kind Kind: it runs a collection with the
// execution's parameters (ParseParams; the execution's dry run flag too),
// writes its log to the execution's, and records the Result (so far, if
// it stops or fails). Run again after its replica died, it starts over:
// every step re-checks what it deletes (Run).
func (c *Collector) Handler() jobs.Handler {
	return func(ctx context.Context, run *jobs.Run) error {
		p, err := ParseParams(run.Execution.Params)
		if err != nil {
			return err
		}
		p.DryRun = p.DryRun || run.Execution.DryRun
		res, err := c.Run(ctx, p, run.Log)
		if serr := run.SetResult(res); serr != nil && err == nil {
			err = serr
		}
		return err
	}
}
