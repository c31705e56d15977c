package httplimit

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

// ErrSlowBody is returned (wrapped, together with os.ErrDeadlineExceeded)
// by the Read that cuts a request body under the rules.
var ErrSlowBody = errors.New("request body too slow")

// body enforces the body rules as a token bucket of time. due is when the
// client's credit runs out: it never lies more than idle ahead, every byte
// moves it 1/rate s later, and the connection's read deadline follows it
// (lagging by at most slack).
type body struct {
	rc    io.ReadCloser
	ctl   *http.ResponseController
	idle  time.Duration
	rate  float64 // bytes/s; 0: any progress restores the full credit
	slack time.Duration
	due   time.Time // when the client's credit runs out
	set   time.Time // the read deadline the connection holds (zero: none)
	back  time.Time // when the last Read returned, or the request began
	done  bool      // the body returned an error, EOF included
}

func newBody(r *http.Request, ctl *http.ResponseController, o Options) *body {
	now := time.Now()
	b := &body{rc: r.Body, ctl: ctl, idle: o.BodyIdleTimeout, rate: float64(o.BodyMinRate),
		slack: slack(o.BodyIdleTimeout), due: now.Add(o.BodyIdleTimeout), back: now}
	if r.ProtoMajor == 1 {
		// Bound the body even if the handler never reads it: net/http
		// drains up to 256 KiB of an unread body after the handler, under
		// whatever read deadline the connection holds. (On HTTP/1 a
		// deadline only matters while the connection is read, so this does
		// not hurry a handler that reads late. On HTTP/2 it would: there it
		// is a timer, set at the first Read.)
		if ctl.SetReadDeadline(b.due) == nil {
			b.set = b.due
		}
	}
	return b
}

func (b *body) Read(p []byte) (int, error) {
	if b.done || len(p) == 0 {
		// After EOF net/http watches the connection itself, with no
		// deadline: never touch it again.
		return b.rc.Read(p)
	}
	// The time since the last Read (or the start of the request) was the
	// handler's — authorization, storage, hashing — not the client's: on
	// HTTP/1 nothing was read then. (On HTTP/2 the deadline is a timer
	// that runs meanwhile, so a handler pausing between Reads for longer
	// than the client's credit loses the body there.)
	now := time.Now()
	b.due = earliest(b.due.Add(now.Sub(b.back)), now.Add(b.idle))
	if b.due.Sub(b.set) >= b.slack {
		if b.ctl.SetReadDeadline(b.due) == nil {
			b.set = b.due
		}
	}
	n, err := b.rc.Read(p)
	b.back = time.Now()
	if n > 0 {
		if b.rate > 0 {
			b.due = b.due.Add(time.Duration(float64(n) / b.rate * float64(time.Second)))
		} else {
			b.due = b.back.Add(b.idle)
		}
		b.due = earliest(b.due, b.back.Add(b.idle))
	}
	if err != nil {
		b.done = true
		if errors.Is(err, os.ErrDeadlineExceeded) {
			err = b.slowErr(err)
		}
	}
	return n, err
}

func (b *body) slowErr(cause error) error {
	if b.rate > 0 {
		return fmt.Errorf("%w: less than %.0f bytes/s, or nothing for %s (%w)", ErrSlowBody, b.rate, b.idle, cause)
	}
	return fmt.Errorf("%w: nothing for %s (%w)", ErrSlowBody, b.idle, cause)
}

func (b *body) Close() error { return b.rc.Close() }

func earliest(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
