package httplimit

import (
	"io"
	"math"
	"net/http"
	"time"
)

// writeChunk is the most written under one write deadline: the client
// must accept this much per WriteIdleTimeout (about 4 KiB/s with the
// default minute) or be cut. Kept large so that a sendfile transfer costs
// a few system calls per chunk (see ReadFrom).
const writeChunk = 256 << 10

// writer moves the connection's write deadline forward before every chunk
// it writes, so a response is cut only when the client stops accepting it.
// It forwards ReadFrom in chunks that keep an *os.File source visible to
// net/http, which then still uses sendfile.
type writer struct {
	http.ResponseWriter
	ctl   *http.ResponseController // made on first use
	idle  time.Duration
	slack time.Duration
	set   time.Time // the write deadline last given to the connection

	lazy    bool // HTTP/1: no deadline until the body passes smallResponse
	written int  // body bytes written so far
	armed   bool // a deadline bounds this response's writes

	// With a wrapped body: the request, its original body and the wrapper.
	req     *http.Request
	orig    io.ReadCloser
	wrapped io.ReadCloser
}

// extend gives the next write WriteIdleTimeout from now, give or take
// slack. Between writes the deadline does not matter on HTTP/1; on HTTP/2
// it is a timer, so a handler that pauses for longer between two writes
// (after its first) loses the stream.
func (w *writer) extend() {
	w.armed = true
	d := time.Now().Add(w.idle)
	if d.Sub(w.set) >= w.slack && w.controller().SetWriteDeadline(d) == nil {
		w.set = d
	}
}

func (w *writer) controller() *http.ResponseController {
	if w.ctl == nil {
		w.ctl = http.NewResponseController(w.ResponseWriter)
	}
	return w.ctl
}

// smallResponse is the most body a response may have and still be
// written with no deadline: with its headers it fits in the smallest send
// buffer Linux gives a socket (tcp_wmem's minimum, 4 KiB), so writing it
// cannot block whatever the client does. Manifests, tag lists, tokens and
// most API answers are this small: the hot path sets no deadline of its
// own (net/http clears the connection's write deadline after every
// request, so none is left over from an earlier one).
const smallResponse = 3 << 10

// willWrite is called before n more body bytes are written: past
// smallResponse, or on HTTP/2, the write gets a deadline.
func (w *writer) willWrite(n int) {
	w.written += n
	if w.armed || !w.lazy || w.written > smallResponse {
		w.extend()
	}
}

// finish bounds net/http's final flush after the handler returns, unless
// the response is small enough not to need it.
func (w *writer) finish() {
	if w.armed || !w.lazy {
		w.extend()
	}
}

// restoreBody gives net/http back the body it created, if the handler has
// not replaced ours: it is about to decide by its type how to finish it.
func (w *writer) restoreBody() {
	if w.req != nil && w.req.Body == w.wrapped {
		w.req.Body = w.orig
	}
}

func (w *writer) WriteHeader(code int) {
	if code >= 200 {
		w.restoreBody()
	}
	if code < 200 {
		w.extend() // 1xx answers are written at once
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *writer) Write(p []byte) (int, error) {
	w.restoreBody()
	if len(p) == 0 {
		w.willWrite(0)
		return w.ResponseWriter.Write(p)
	}
	var n int
	for len(p) > 0 {
		c := min(len(p), writeChunk)
		w.willWrite(c)
		m, err := w.ResponseWriter.Write(p[:c])
		n += m
		if err != nil {
			return n, err
		}
		p = p[c:]
	}
	return n, nil
}

// ReadFrom copies src in chunks of writeChunk, each under a fresh write
// deadline, through the inner writer's ReadFrom. net/http's sendfile path
// accepts an *os.File or an *io.LimitedReader of one (what io.CopyN and so
// http.ServeContent pass), but not a limit inside a limit: a LimitedReader
// source is therefore unwrapped and its limit carried over.
func (w *writer) ReadFrom(src io.Reader) (int64, error) {
	w.restoreBody()
	rf, ok := w.ResponseWriter.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	left := int64(math.MaxInt64)
	if lr, ok := src.(*io.LimitedReader); ok {
		src, left = lr.R, lr.N
		defer func() { lr.N = left }()
	}
	var total int64
	for left > 0 {
		want := min(left, writeChunk)
		w.extend()
		n, err := rf.ReadFrom(&io.LimitedReader{R: src, N: want})
		total += n
		left -= n
		if err != nil || n < want { // an error, or the end of src
			return total, err
		}
	}
	return total, nil
}

// Flush is forwarded (the access log's recorder and http.ResponseController
// look for it); it writes too.
func (w *writer) Flush() {
	w.restoreBody()
	w.extend()
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *writer) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// writerOnly hides writer's ReadFrom from io.Copy.
type writerOnly struct{ io.Writer }
