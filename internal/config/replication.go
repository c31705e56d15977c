package config

import (
	"flag"
	"fmt"
)

// Replication tunes how berth reaches remote registries (replication and
// proxy caches).
type Replication struct {
	// Rate and Burst bound the requests per second to one remote
	// registry, over all of berth's work with it.
	Rate  float64
	Burst int
	// Workers bounds the repositories one replication execution copies
	// at a time.
	Workers int
}

// DefaultReplication: 200 requests/s (bursts of 100) per registry, 4
// repositories at a time.
func DefaultReplication() Replication {
	return Replication{Rate: 200, Burst: 100, Workers: 4}
}

func (r *Replication) flags(fs *flag.FlagSet) {
	fs.Float64Var(&r.Rate, "replication-rate", r.Rate, "requests per second to one remote registry (replication, proxy caches); a 429 or 503 pauses it as long as Retry-After says")
	fs.IntVar(&r.Burst, "replication-burst", r.Burst, "requests to one remote registry allowed at once above --replication-rate")
	fs.IntVar(&r.Workers, "replication-workers", r.Workers, "repositories one replication execution copies at a time")
}

func (r *Replication) validate() error {
	switch {
	case r.Rate <= 0:
		return fmt.Errorf("replication-rate %g: must be positive", r.Rate)
	case r.Burst < 1:
		return fmt.Errorf("replication-burst %d: want at least 1", r.Burst)
	case r.Workers < 1 || r.Workers > 64:
		return fmt.Errorf("replication-workers %d: want 1 to 64", r.Workers)
	}
	return nil
}
