package config

import (
	"flag"
	"fmt"
	"net"
	"time"
)

// Limits bound what one client can hold: a connection slot, a request body
// that trickles, a response nobody reads. See README "Slow clients and the
// connection cap" for the rules these knobs feed.
type Limits struct {
	MaxConnections   int           // client connections served at once (lowered to fit the open-file limit)
	BodyIdleTimeout  time.Duration // a request body delivering nothing this long is cut; also the credit a body may bank
	BodyMinRate      int64         // bytes/s a request body must average (0: only the idle rule)
	WriteIdleTimeout time.Duration // a response the client accepts nothing of for this long is cut
	HealthAddr       string        // optional separate listener for /livez and /readyz
}

// DefaultLimits: 10000 connections; bodies at least 1 KiB/s, never silent
// for a minute; responses never stalled for a minute.
func DefaultLimits() Limits {
	return Limits{
		MaxConnections:   10000,
		BodyIdleTimeout:  time.Minute,
		BodyMinRate:      1024,
		WriteIdleTimeout: time.Minute,
	}
}

func (l *Limits) flags(fs *flag.FlagSet) {
	fs.IntVar(&l.MaxConnections, "max-connections", l.MaxConnections, "most client connections served at once (lowered to fit the open-file limit); a few more are accepted for /livez and /readyz only")
	fs.DurationVar(&l.BodyIdleTimeout, "body-idle-timeout", l.BodyIdleTimeout, "a request body that delivers nothing for this long is cut (408); also the most credit a body can bank towards --body-min-rate")
	fs.Int64Var(&l.BodyMinRate, "body-min-rate", l.BodyMinRate, "bytes/s a request body must average; a body whose deficit reaches --body-idle-timeout is cut (0: only the idle rule)")
	fs.DurationVar(&l.WriteIdleTimeout, "write-idle-timeout", l.WriteIdleTimeout, "a response the client stops accepting for this long is cut")
	fs.StringVar(&l.HealthAddr, "health-addr", l.HealthAddr, "optional plain-HTTP listener HOST:PORT serving only /livez and /readyz, outside the main connection cap (for probes)")
}

// validate names the first bad limit.
func (l *Limits) validate() error {
	if l.MaxConnections < 1 {
		return fmt.Errorf("max-connections %d: want at least 1", l.MaxConnections)
	}
	if l.BodyIdleTimeout < time.Second {
		return fmt.Errorf("body-idle-timeout %s: want at least 1s", l.BodyIdleTimeout)
	}
	if l.BodyMinRate < 0 {
		return fmt.Errorf("body-min-rate %d: must not be negative", l.BodyMinRate)
	}
	if l.WriteIdleTimeout < time.Second {
		return fmt.Errorf("write-idle-timeout %s: want at least 1s", l.WriteIdleTimeout)
	}
	if l.HealthAddr != "" {
		if _, _, err := net.SplitHostPort(l.HealthAddr); err != nil {
			return fmt.Errorf("health-addr %q: %w", l.HealthAddr, err)
		}
	}
	return nil
}
