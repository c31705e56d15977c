package proxy

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// commitFunc moves verified bytes (upload id of the blob store) into place
// as blob d of repo and links it, as a push does (the registry's commit:
// quota, garbage-collection interplay).
type commitFunc = func(ctx context.Context, repo, uploadID string, d digest.Digest, size int64) error

// Blob answers a GET or HEAD of blob d, not linked in repo (a repository
// of a proxy-cache project). HEAD asks the upstream for the size only. GET
// streams the upstream's bytes to the client while writing them to the
// blob store; once they are all read and their digest is verified, the
// blob is committed and the last bytes sent (a blob that fails
// verification is never committed, and its response is cut short).
// Concurrent GETs of one blob share one upstream fetch: the others wait
// for it and are served from the store.
func (e *Engine) Blob(w http.ResponseWriter, req *http.Request, repo string, d digest.Digest, commit commitFunc) error {
	p := e.lookup(repo)
	if p == nil || !p.match(repo) {
		return meta.ErrBlobNotFound
	}
	ctx := req.Context()
	c, err := e.client(ctx, p)
	if err != nil {
		return errUpstream("blob "+string(d), err)
	}
	urepo, err := c.repo(p, repo)
	if err != nil {
		return meta.ErrBlobNotFound
	}
	h := w.Header()
	if req.Method == http.MethodHead {
		hctx, cancel := context.WithTimeout(ctx, e.opt.Timeout)
		defer cancel()
		l, err := c.puller.Layer(hctx, urepo.Digest(string(d)))
		if err != nil {
			return e.blobErr(d, err)
		}
		size, err := l.Size()
		if err != nil {
			return e.blobErr(d, err)
		}
		setBlobHeaders(h, d)
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		return nil
	}
	if e.linkStored(ctx, c, urepo.Digest(string(d)), repo, d) {
		return e.serveStored(w, req, repo, d)
	}
	led := false
	_, err, _ = e.flight.Do("b\x00"+repo+"\x00"+string(d), func() (any, error) {
		led = true
		return nil, e.fetchBlob(w, req, p, c, repo, d, commit)
	})
	if led && err == errCutShort {
		panic(http.ErrAbortHandler)
	}
	if led || err != nil {
		return err
	}
	// Another request fetched it meanwhile: serve the stored copy.
	return e.serveStored(w, req, repo, d)
}

// serveStored serves blob d, linked in repo, from the blob store.
func (e *Engine) serveStored(w http.ResponseWriter, req *http.Request, repo string, d digest.Digest) error {
	ctx := req.Context()
	if _, err := e.opt.Meta.BlobSize(ctx, repo, d); err != nil {
		return err
	}
	f, err := e.opt.Blobs.Open(ctx, d)
	if err != nil {
		return err
	}
	defer f.Close()
	setBlobHeaders(w.Header(), d)
	http.ServeContent(w, req, "", time.Time{}, f)
	return nil
}

// linkStored links blob d into repo without fetching it when berth holds
// it already (another repository's layer, typically a shared base) and
// the upstream confirms it has it in this repository: a repository sees
// only what its upstream would give it.
func (e *Engine) linkStored(ctx context.Context, c *upstream, ref name.Digest, repo string, d digest.Digest) bool {
	if _, err := e.opt.Blobs.Stat(ctx, d); err != nil {
		return false
	}
	hctx, cancel := context.WithTimeout(ctx, e.opt.Timeout)
	defer cancel()
	l, err := c.puller.Layer(hctx, ref)
	if err != nil {
		return false
	}
	if _, err := l.Size(); err != nil {
		return false
	}
	_, err = e.opt.Meta.MountBlob(ctx, repo, "", d)
	return err == nil
}

func setBlobHeaders(h http.Header, d digest.Digest) {
	h.Set("Docker-Content-Digest", string(d))
	h.Set("ETag", `"`+string(d)+`"`)
	h.Set("Content-Type", "application/octet-stream")
}

func (e *Engine) blobErr(d digest.Digest, err error) error {
	if upstreamStatus(err) == http.StatusNotFound {
		return meta.ErrBlobNotFound
	}
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return errUpstream("blob "+string(d), err)
}

// fetchBlob streams blob d from the upstream to w and into the blob store.
// The upstream transfer outlives the client (others may wait for it); its
// start is bounded by Timeout.
func (e *Engine) fetchBlob(w http.ResponseWriter, req *http.Request, p *project, c *upstream, repo string, d digest.Digest, commit commitFunc) (err error) {
	hash, err := oci.NewHash(d.Algorithm())
	if err != nil {
		return meta.ErrBlobNotFound
	}
	urepo, err := c.repo(p, repo)
	if err != nil {
		return meta.ErrBlobNotFound
	}
	release, ok := p.acquire()
	if !ok {
		return errTooManyConns
	}
	defer release()
	ctx, cancel := context.WithCancel(context.WithoutCancel(req.Context()))
	defer cancel()
	timer := time.AfterFunc(e.opt.Timeout, cancel) // until the response starts
	l, err := c.puller.Layer(ctx, urepo.Digest(string(d)))
	var size int64
	var rc io.ReadCloser
	if err == nil {
		if size, err = l.Size(); err == nil {
			rc, err = l.Compressed() // verifies size and digest as it is read
		}
	}
	if !timer.Stop() && err == nil {
		rc.Close()
		err = context.DeadlineExceeded
	}
	if err != nil {
		return e.blobErr(d, err)
	}
	defer rc.Close()

	id := blob.NewUploadID()
	bw, err := e.opt.Blobs.Append(ctx, id, 0)
	if err != nil {
		return err
	}
	stored := false
	defer func() {
		if !stored {
			bw.Abandon()
			_ = e.opt.Blobs.Abort(context.WithoutCancel(ctx), id)
		}
	}()
	setBlobHeaders(w.Header(), d)
	w.Header().Set("Content-Length", strconv.FormatInt(size, 10))
	w.WriteHeader(http.StatusOK)

	// An upstream that stops sending for Timeout is given up on.
	idle := time.AfterFunc(e.opt.Timeout, cancel)
	defer idle.Stop()
	src := throttled(&idleReader{r: rc, t: idle, d: e.opt.Timeout}, p.speedKB)
	// The client gets each chunk once the next one is read, and the last
	// one only after the digest is verified: a bad blob reaches no client
	// whole.
	bufs := [2][]byte{make([]byte, 256<<10), make([]byte, 256<<10)}
	var held []byte
	clientOK := true
	send := func(b []byte) {
		if clientOK && len(b) > 0 {
			if _, werr := w.Write(b); werr != nil {
				clientOK = false // keep storing for the requests waiting on this fetch
			}
		}
	}
	var n int64
	for i := 0; ; i ^= 1 {
		k, rerr := io.ReadFull(src, bufs[i])
		if k > 0 {
			chunk := bufs[i][:k]
			hash.Write(chunk)
			if _, werr := bw.Write(chunk); werr != nil {
				return errCutShort
			}
			n += int64(k)
			send(held)
			held = chunk
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			e.log.WarnContext(ctx, "proxy cache: upstream blob transfer failed", "repo", repo, "digest", d, "err", rerr)
			return errCutShort
		}
	}
	if got := digest.NewDigest(d.Algorithm(), hash); got != d || n != size {
		e.log.WarnContext(ctx, "proxy cache: upstream blob failed verification", "repo", repo, "digest", d, "got", got, "size", n)
		return errCutShort
	}
	if err := bw.Close(); err != nil {
		e.log.WarnContext(ctx, "proxy cache: storing a blob", "repo", repo, "digest", d, "err", err)
		return errCutShort
	}
	stored = true
	if err := commit(ctx, repo, id, d, n); err != nil {
		// Served all the same; only not kept (past the quota, ...).
		e.log.WarnContext(ctx, "proxy cache: blob not stored", "repo", repo, "digest", d, "err", err)
		_ = e.opt.Blobs.Abort(ctx, id)
	}
	send(held)
	return nil
}

// errCutShort: a transfer failed after its response began. The request
// that led it drops the connection so its client sees a truncated body,
// not a wrong one; those waiting on it get this error.
var errCutShort = &Error{Code: "UNAVAILABLE", Status: http.StatusBadGateway,
	Message: "proxy cache: the transfer of the blob from the upstream registry failed; try again"}

// idleReader restarts t (which gives the transfer up) after every read.
type idleReader struct {
	r io.Reader
	t *time.Timer
	d time.Duration
}

func (i *idleReader) Read(b []byte) (int, error) {
	n, err := i.r.Read(b)
	i.t.Reset(i.d)
	return n, err
}
