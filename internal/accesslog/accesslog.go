// Package accesslog wraps an http.Handler with a request id, one structured
// access-log line per request, and panic recovery. It also provides a
// slog.Handler that stamps the request id on every line logged with the
// request's context.
package accesslog

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

type ctxKey struct{}

// RequestID returns the id of the request ctx belongs to, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(ctxKey{}).(string)
	return id
}

// IDs are a random per-process prefix plus a counter: unique across
// restarts and replicas without a random read per request.
type idSource struct {
	prefix string
	n      atomic.Uint64
}

func newIDSource() *idSource {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return &idSource{prefix: hex.EncodeToString(b[:]) + "-"}
}

func (s *idSource) next() string { return s.prefix + strconv.FormatUint(s.n.Add(1), 36) }

// validClientID accepts a caller's X-Request-Id only if short and plain, so
// it cannot forge log structure.
func validClientID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// Middleware returns h wrapped with request ids, access logging (when
// logRequests) and panic recovery.
func Middleware(h http.Handler, log *slog.Logger, logRequests bool) http.Handler {
	ids := newIDSource()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := r.Header.Get("X-Request-Id")
		if !validClientID(id) {
			id = ids.next()
		}
		ctx := context.WithValue(r.Context(), ctxKey{}, id)
		r = r.WithContext(ctx)
		rw := &recorder{ResponseWriter: w}
		rw.Header().Set("X-Request-Id", id)
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				log.ErrorContext(ctx, "panic serving request", "panic", p, "method", r.Method, "path", r.URL.Path)
				if !rw.wrote {
					rw.Header().Set("Content-Type", "application/json")
					rw.WriteHeader(http.StatusInternalServerError)
					_, _ = io.WriteString(rw, `{"errors":[{"code":"UNKNOWN","message":"internal error"}]}`)
				}
			}
			if logRequests {
				log.LogAttrs(ctx, slog.LevelInfo, "request",
					slog.String("method", r.Method),
					slog.String("path", r.URL.Path),
					slog.Int("status", rw.status()),
					slog.Int64("bytes", rw.bytes),
					slog.Int64("in", max(r.ContentLength, 0)),
					slog.Duration("dur", time.Since(start)),
					slog.String("remote", r.RemoteAddr),
					slog.String("ua", r.UserAgent()))
			}
		}()
		h.ServeHTTP(rw, r)
	})
}

// recorder captures status and size. It forwards ReadFrom so that
// http.ServeContent on an *os.File still reaches sendfile.
type recorder struct {
	http.ResponseWriter
	code  int
	bytes int64
	wrote bool
}

func (r *recorder) WriteHeader(code int) {
	if !r.wrote {
		r.code, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

func (r *recorder) ReadFrom(src io.Reader) (int64, error) {
	r.wrote = true
	n, err := io.Copy(r.ResponseWriter, src) // uses the inner ReaderFrom
	r.bytes += n
	return n, err
}

func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (r *recorder) Flush() {
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (r *recorder) status() int {
	if r.code == 0 {
		return http.StatusOK
	}
	return r.code
}

// Handler is a slog.Handler that adds the request id from the context.
type Handler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h Handler) Handle(ctx context.Context, rec slog.Record) error {
	if id := RequestID(ctx); id != "" {
		rec.AddAttrs(slog.String("request_id", id))
	}
	return h.Handler.Handle(ctx, rec)
}

// WithAttrs implements slog.Handler.
func (h Handler) WithAttrs(as []slog.Attr) slog.Handler { return Handler{h.Handler.WithAttrs(as)} }

// WithGroup implements slog.Handler.
func (h Handler) WithGroup(name string) slog.Handler { return Handler{h.Handler.WithGroup(name)} }
