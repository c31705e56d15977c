package meta

import (
	"errors"
	"time"
)

// ErrUnavailable says the database did not answer in time or at all: an
// operation's timeout ran out (waiting for a pooled connection or a lock
// included), a lock was held past the busy timeout, the connection was
// refused or lost. Nothing is wrong with the request; it may succeed when
// retried later, so handlers answer 503 with Retry-After rather than 500.
// Stores wrap the cause with Unavailable, so errors.Is finds both.
var ErrUnavailable = errors.New("metadata store unavailable")

// RetryAfter is the wait a client is told to observe after ErrUnavailable:
// long enough for a lock holder, a failover or a restart to get somewhere.
const RetryAfter = 5 * time.Second

// Unavailable marks err as ErrUnavailable, keeping it for logs and for
// errors.Is (context.DeadlineExceeded stays visible, for instance).
func Unavailable(err error) error {
	if err == nil || errors.Is(err, ErrUnavailable) {
		return err
	}
	return &unavailableError{err}
}

// IsUnavailable reports whether err is, or wraps, ErrUnavailable.
func IsUnavailable(err error) bool { return errors.Is(err, ErrUnavailable) }

type unavailableError struct{ cause error }

func (e *unavailableError) Error() string   { return ErrUnavailable.Error() + ": " + e.cause.Error() }
func (e *unavailableError) Unwrap() []error { return []error{ErrUnavailable, e.cause} }
