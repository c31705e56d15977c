// Package httplimit bounds what one slow client can hold: a request body
// must keep arriving (an idle timeout and a minimum average rate), a
// response must keep being accepted (an idle timeout per chunk), and a
// listener caps the connections served at once, with a small reserve in
// which only health checks are answered.
//
// Whole-request deadlines (http.Server's ReadTimeout and WriteTimeout)
// would cut a 10 GiB layer push or pull that is making progress; these
// rules only cut transfers that stall, by moving the connection's
// deadlines forward as bytes flow (http.ResponseController).
package httplimit

import (
	"context"
	"io"
	"net/http"
	"time"
)

// Options are the rules of Handler.
type Options struct {
	// BodyIdleTimeout: a request body that delivers nothing this long is
	// cut. It is also the most credit a body can bank (see BodyMinRate).
	BodyIdleTimeout time.Duration
	// BodyMinRate is the average rate, in bytes per second, a request body
	// must keep up: every byte buys 1/BodyMinRate s of credit, waiting for
	// the client spends it, and the body is cut when none is left. 0 keeps
	// only the idle rule.
	BodyMinRate int64
	// WriteIdleTimeout: a response of which the client accepts no
	// writeChunk bytes for this long is cut.
	WriteIdleTimeout time.Duration
	// Reserved reports whether a request may be served on a connection
	// accepted beyond the cap (see Listener); others get 503 there.
	Reserved func(*http.Request) bool
}

// slack is how far a deadline may lag behind the exact rule, so that a
// fast transfer moves it about once per slack rather than on every Read
// or Write (on HTTP/2 each move is a message to the connection's
// goroutine). Deadlines only ever lag, so a client is cut at most slack
// early, never late.
func slack(timeout time.Duration) time.Duration { return min(time.Second, timeout/8) }

// Handler applies the rules in o to every request h serves.
//
// The request body is wrapped by replacing r.Body on the request it is
// given, not on a copy, so that net/http's clean-up of that request (for
// example of a parsed multipart form) still sees it. net/http also decides
// how to finish an unread body by its concrete type (wait for "100
// Continue", drain it, or close the connection), so the original body is
// put back as soon as the response starts and again when h returns.
func Handler(h http.Handler, o Options) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if Overflow(r.Context()) && (o.Reserved == nil || !o.Reserved(r)) {
			shed(w, r, http.NewResponseController(w), o.WriteIdleTimeout)
			return
		}
		// On HTTP/1 a small response needs no deadline (see smallResponse);
		// on HTTP/2 every write gets one, as flow control can stall any.
		lw := &writer{ResponseWriter: w, idle: o.WriteIdleTimeout, slack: slack(o.WriteIdleTimeout), lazy: r.ProtoMajor == 1}
		if r.Body != nil && r.Body != http.NoBody {
			b := newBody(r, lw.controller(), o)
			lw.req, lw.orig, lw.wrapped = r, r.Body, b
			r.Body = b
			defer lw.restoreBody()
		}
		// net/http flushes what is buffered after h returns: bound that
		// too, unless the response is too small to block.
		defer lw.finish()
		h.ServeHTTP(lw, r)
	})
}

// shed answers a request that came beyond the cap: 503, and the connection
// closed rather than its body drained.
func shed(w http.ResponseWriter, r *http.Request, ctl *http.ResponseController, writeIdle time.Duration) {
	if r.ProtoMajor == 1 && r.Body != nil && r.Body != http.NoBody {
		// Nothing reads this body: make net/http's attempt to drain it
		// fail at once. (A request without a body must keep its
		// deadline: net/http is watching the connection for a hang-up.)
		_ = ctl.SetReadDeadline(time.Now())
	}
	_ = ctl.SetWriteDeadline(time.Now().Add(writeIdle))
	h := w.Header()
	h.Set("Connection", "close")
	h.Set("Retry-After", "1")
	h.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusServiceUnavailable)
	_, _ = io.WriteString(w, `{"errors":[{"code":"UNAVAILABLE","message":"too many connections: retry later"}]}`+"\n")
}

type overflowKey struct{}

// Overflow reports whether ctx belongs to a connection accepted beyond the
// cap (see Listener.ConnContext).
func Overflow(ctx context.Context) bool {
	v, _ := ctx.Value(overflowKey{}).(bool)
	return v
}
