package replication

import (
	"context"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// limiter is a token bucket shared by all requests to one registry, with
// a pause every request waits out after the registry said 429 or 503
// (its Retry-After): one worker's backoff holds back the others too.
type limiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
	until  time.Time // paused until
}

func newLimiter(rate float64, burst int) *limiter {
	return &limiter{rate: rate, burst: float64(burst), tokens: float64(burst), last: time.Now()}
}

// wait takes a token, waiting for one (and for a pause to end).
func (l *limiter) wait(ctx context.Context) error {
	for {
		l.mu.Lock()
		now := time.Now()
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
		l.last = now
		var d time.Duration
		switch {
		case now.Before(l.until):
			d = l.until.Sub(now)
		case l.tokens >= 1:
			l.tokens--
			l.mu.Unlock()
			return nil
		default:
			d = time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
		}
		l.mu.Unlock()
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
	}
}

// pause holds every request back for d.
func (l *limiter) pause(d time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if u := time.Now().Add(d); u.After(l.until) {
		l.until = u
	}
}

// limitedTransport is the bottom of every outbound request to a registry: it
// takes a token of the registry's limiter, uses the scheme of the
// registry's URL (go-containerregistry picks http for loopback and
// private addresses on its own), and retries a request answered 429 or
// 503 after the registry's Retry-After (or an exponential backoff),
// pausing the registry's other requests as long.
type limitedTransport struct {
	base       http.RoundTripper
	limit      *limiter
	scheme     string
	host       string
	maxRetries int
	maxBackoff time.Duration
	log        *slog.Logger
	registry   string
}

func (t *limitedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == t.host && req.URL.Scheme != t.scheme {
		req = req.Clone(req.Context())
		req.URL.Scheme = t.scheme
	}
	for attempt := 0; ; attempt++ {
		if err := t.limit.wait(req.Context()); err != nil {
			return nil, err
		}
		resp, err := t.base.RoundTrip(req)
		if err != nil || (resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable) ||
			attempt >= t.maxRetries || (req.Body != nil && req.Body != http.NoBody && req.GetBody == nil) {
			return resp, err
		}
		d := t.backoff(resp.Header.Get("Retry-After"), attempt)
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		t.log.Warn("registry asked to slow down: waiting", "registry", t.registry, "status", resp.StatusCode,
			"wait", d.String(), "attempt", attempt+1, "method", req.Method, "path", req.URL.Path)
		t.limit.pause(d)
		if req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				return nil, err
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
	}
}

// backoff is the wait before retry attempt+1: Retry-After (seconds or an
// HTTP date) if given, else 1s doubling with jitter; at most maxBackoff.
func (t *limitedTransport) backoff(retryAfter string, attempt int) time.Duration {
	var d time.Duration
	if s, err := strconv.Atoi(retryAfter); err == nil && s >= 0 {
		d = time.Duration(s) * time.Second
	} else if at, err := http.ParseTime(retryAfter); err == nil {
		d = time.Until(at)
	}
	if d <= 0 {
		d = time.Second << min(attempt, 10)
		d += time.Duration(rand.Int64N(int64(d) / 4))
	}
	return min(d, t.maxBackoff)
}
