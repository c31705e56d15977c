package registry

import (
	"context"
	"crypto/sha256"
	"encoding"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"os"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

var errShortBody = errors.New("request body shorter than declared")

func uploadLocation(name, id string) string { return "/v2/" + name + "/blobs/uploads/" + id }

func setUploadHeaders(h http.Header, name string, u meta.Upload) {
	h.Set("Location", uploadLocation(name, u.ID))
	h.Set("Docker-Upload-UUID", u.ID)
	h.Set("Range", "0-"+strconv.FormatInt(max(u.Offset-1, 0), 10))
	h.Set("Content-Length", "0")
}

func blobCreated(w http.ResponseWriter, name string, d digest.Digest) {
	h := w.Header()
	h.Set("Location", "/v2/"+name+"/blobs/"+string(d))
	h.Set("Docker-Content-Digest", string(d))
	h.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
}

// startUpload handles POST .../blobs/uploads/: a cross-repository mount, a
// monolithic upload (?digest=), or the start of a session.
func (r *Registry) startUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	ctx := req.Context()
	q := req.URL.Query()
	if m := q.Get("mount"); m != "" {
		d, err := parseDigestParam(m)
		if err != nil {
			return err
		}
		from := q.Get("from")
		if from != "" && !oci.ValidName(from) {
			return CodeNameInvalid.Err("invalid repository name %q in from", from)
		}
		// The caller must be allowed to pull from the source. Without
		// "from", any repository holding the blob that the caller may pull
		// from serves as the source.
		src, ok, err := r.mountSource(req, rt.name, from, d)
		if err != nil {
			return err
		}
		if ok {
			_, err = r.meta.MountBlob(ctx, rt.name, src, d)
		} else {
			err = meta.ErrBlobNotFound
		}
		if err == nil {
			blobCreated(w, rt.name, d)
			return nil
		}
		if !errors.Is(err, meta.ErrBlobNotFound) {
			return err
		}
		// Not mountable: fall back to a new session, as the spec says.
	} else if ds := q.Get("digest"); ds != "" {
		d, err := parseDigestParam(ds)
		if err != nil {
			return err
		}
		if err := r.putMonolithic(ctx, req, rt.name, d); err != nil {
			return err
		}
		blobCreated(w, rt.name, d)
		return nil
	}
	if err := r.checkQuota(ctx, rt.name, "", 0); err != nil { // a full project takes no upload
		return err
	}
	u := meta.Upload{ID: blob.NewUploadID(), Repo: rt.name, HashState: initialHashState}
	if err := r.meta.CreateUpload(ctx, u); err != nil {
		return err
	}
	setUploadHeaders(w.Header(), rt.name, u)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// mountSource returns the repository a mount may copy d from; "" with ok
// means any repository (no access control), !ok means no mount.
func (r *Registry) mountSource(req *http.Request, repo, from string, d digest.Digest) (src string, ok bool, err error) {
	if from != "" {
		return from, r.canPull(req, from), nil
	}
	if r.opt.Authorizer == nil {
		return "", true, nil
	}
	repos, err := r.meta.BlobRepositories(req.Context(), d, 20)
	if err != nil {
		return "", false, err
	}
	for _, src := range repos {
		if src != repo && r.canPull(req, src) {
			return src, true, nil
		}
	}
	return "", false, nil
}

var initialHashState = func() []byte {
	b, err := sha256.New().(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		panic(err)
	}
	return b
}()

// putMonolithic streams a whole blob of known digest into a temporary
// upload, verifies it, and commits it. On any failure the bytes are removed.
func (r *Registry) putMonolithic(ctx context.Context, req *http.Request, name string, d digest.Digest) (err error) {
	h, err := oci.NewHash(d.Algorithm())
	if err != nil {
		return CodeDigestInvalid.Err("unsupported digest algorithm")
	}
	if err := r.checkQuota(ctx, name, d, max(req.ContentLength, 0)); err != nil { // before the bytes are sent
		return err
	}
	id := blob.NewUploadID()
	w, err := r.blobs.Append(ctx, id, 0)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = r.blobs.Abort(context.WithoutCancel(ctx), id)
		}
	}()
	n, err := r.copyBody(w, h, req.Body, req.ContentLength, 0)
	if err != nil {
		w.Abandon()
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if got := digest.NewDigest(d.Algorithm(), h); got != d {
		return CodeDigestInvalid.Err("content digest %s does not match %s", got, d)
	}
	if n != req.ContentLength { // streamed: only now is the size known
		if err := r.checkQuota(ctx, name, d, n); err != nil {
			return err
		}
	}
	return r.commit(ctx, name, id, d, n, false)
}

// commit moves verified bytes into place and then records them; the blob
// becomes visible only with the database row, after its bytes are durable.
// A session's blob is first checked against the project's quota: refused,
// the session is dropped with its bytes (the client must start again).
//
// Garbage collection may be deleting the same digest (meta.BlobReviver,
// internal/gc): if it is, the bytes are placed under the lock its byte
// deletion takes, so it cannot delete them afterwards. If it took the
// digest after they were placed, CommitBlob says so, and they are checked
// (or placed again, if the upload is still there) under that lock; gone
// for good — the collector deleted them between the two — the upload is
// refused and the client uploads again. It is never acknowledged and then
// lost.
func (r *Registry) commit(ctx context.Context, name, id string, d digest.Digest, size int64, session bool) error {
	ctx = context.WithoutCancel(ctx) // finish even if the client hangs up now
	sessionID := ""
	if session {
		sessionID = id
		if err := r.checkQuota(ctx, name, d, size); err != nil {
			r.dropUpload(ctx, id)
			return err
		}
	}
	place := func(ctx context.Context) error { return r.blobs.Commit(ctx, id, d, size) }
	rv, _ := r.meta.(meta.BlobReviver)
	placed := false
	if rv != nil {
		pending, err := rv.BlobDeletionPending(ctx, d)
		if err != nil {
			return err
		}
		if pending {
			if err := rv.ReviveBlob(ctx, d, place); err != nil {
				return r.refuseCollected(ctx, id, session, err)
			}
			placed = true
		}
	}
	if !placed {
		if err := place(ctx); err != nil {
			return err
		}
	}
	for attempt := 1; ; attempt++ {
		err := r.meta.CommitBlob(ctx, name, d, size, sessionID)
		if session && errors.As(err, new(*meta.QuotaExceededError)) {
			// Another push filled the project since the check: the bytes
			// moved into place are left to garbage collection.
			r.dropUpload(ctx, id)
		}
		if rv == nil || !errors.Is(err, meta.ErrBlobDeletionPending) || attempt == 3 {
			if errors.Is(err, meta.ErrBlobDeletionPending) {
				return r.refuseCollected(ctx, id, session, err)
			}
			return err
		}
		// place again: with the upload gone, blob.Store.Commit succeeds
		// only if the bytes are there.
		if err := rv.ReviveBlob(ctx, d, place); err != nil {
			return r.refuseCollected(ctx, id, session, err)
		}
	}
}

// refuseCollected answers an upload whose bytes garbage collection took:
// the session is dropped and the client told to upload again.
func (r *Registry) refuseCollected(ctx context.Context, id string, session bool, err error) error {
	if !errors.Is(err, blob.ErrNotFound) && !errors.Is(err, meta.ErrBlobDeletionPending) {
		return err
	}
	r.log.WarnContext(ctx, "upload refused: its blob was garbage-collected as it was committed", "upload", id, "err", err)
	if session {
		r.dropUpload(ctx, id)
	}
	return CodeBlobUploadUnknown.Err("the blob was garbage-collected while this upload was committed: upload it again")
}

// copyBody copies body to w and h. With declared >= 0 exactly that many
// bytes must arrive. The total is bounded by MaxBlobSize.
func (r *Registry) copyBody(w io.Writer, h hash.Hash, body io.Reader, declared, already int64) (int64, error) {
	limit := int64(-1)
	if r.opt.MaxBlobSize > 0 {
		limit = r.opt.MaxBlobSize - already
	}
	if declared >= 0 {
		if limit >= 0 && declared > limit {
			return 0, &Error{Code: CodeSizeInvalid, Status: http.StatusRequestEntityTooLarge,
				Message: fmt.Sprintf("blob exceeds the maximum size of %d bytes", r.opt.MaxBlobSize)}
		}
		body = io.LimitReader(body, declared)
	} else if limit >= 0 {
		body = io.LimitReader(body, limit+1)
	}
	bp := r.copyBufs.Get().(*[]byte)
	defer r.copyBufs.Put(bp)
	buf := *bp
	var n int64
	for {
		m, rerr := body.Read(buf)
		if m > 0 {
			// Storage first: the hash must never cover bytes that were
			// not written, or resuming would verify the wrong content.
			if _, err := w.Write(buf[:m]); err != nil {
				return n, err
			}
			h.Write(buf[:m])
			n += int64(m)
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return n, bodyReadErr(CodeBlobUploadInvalid, "reading request body", rerr)
		}
	}
	if declared >= 0 && n != declared {
		return n, CodeBlobUploadInvalid.Err("%v: got %d of %d bytes", errShortBody, n, declared)
	}
	if limit >= 0 && n > limit {
		return n, &Error{Code: CodeSizeInvalid, Status: http.StatusRequestEntityTooLarge,
			Message: fmt.Sprintf("blob exceeds the maximum size of %d bytes", r.opt.MaxBlobSize)}
	}
	return n, nil
}

// bodyReadErr reports a request body that could not be read: 408 when it
// was cut for stalling (internal/httplimit sets read deadlines), else the
// code's status. Either way net/http then closes the connection.
func bodyReadErr(c Code, what string, err error) *Error {
	e := c.Err("%s: %v", what, err)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		e.Status = http.StatusRequestTimeout
	}
	return e
}

// loadUpload validates the id before it is used anywhere and fetches the
// session, which must belong to the repository in the path.
func (r *Registry) loadUpload(ctx context.Context, rt route) (meta.Upload, error) {
	if !blob.ValidUploadID(rt.ref) {
		return meta.Upload{}, CodeBlobUploadUnknown.Err("blob upload unknown to registry")
	}
	return r.meta.GetUpload(ctx, rt.name, rt.ref)
}

func (r *Registry) uploadStatus(w http.ResponseWriter, req *http.Request, rt route) error {
	u, err := r.loadUpload(req.Context(), rt)
	if err != nil {
		return err
	}
	setUploadHeaders(w.Header(), rt.name, u)
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// appendChunk appends the request body to a session after checking its
// Content-Range (if any) starts exactly at the session's offset. Progress
// that reached storage is recorded even when the body ends early, so the
// client can resume from the offset an upload status request reports.
func (r *Registry) appendChunk(req *http.Request, rt route, u meta.Upload) (meta.Upload, error) {
	declared := req.ContentLength
	if cr := req.Header.Get("Content-Range"); cr != "" {
		start, end, err := parseContentRange(cr)
		if err != nil {
			return u, CodeBlobUploadInvalid.Err("malformed Content-Range %q", cr)
		}
		if start != u.Offset {
			e := CodeRangeInvalid.Err("chunk starts at %d, upload is at %d", start, u.Offset)
			e.Header = http.Header{}
			setUploadHeaders(e.Header, rt.name, u)
			e.Header.Del("Content-Length")
			return u, e
		}
		if declared >= 0 && declared != end-start+1 {
			return u, CodeBlobUploadInvalid.Err("Content-Length %d does not match Content-Range %q", declared, cr)
		}
		declared = end - start + 1
	}
	if declared == 0 {
		return u, nil
	}
	ctx := req.Context()
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
		return u, fmt.Errorf("upload %s: hash state: %w", u.ID, err)
	}
	w, err := r.blobs.Append(ctx, u.ID, u.Offset)
	if err != nil {
		return u, err
	}
	n, copyErr := r.copyBody(w, h, req.Body, declared, u.Offset)
	var tooBig *Error
	if n == 0 || errors.As(copyErr, &tooBig) && tooBig.Code == CodeSizeInvalid {
		w.Abandon()
		return u, copyErr
	}
	if err := w.Close(); err != nil {
		return u, err
	}
	state, err := h.(encoding.BinaryMarshaler).MarshalBinary()
	if err != nil {
		return u, err
	}
	if err := r.meta.AdvanceUpload(context.WithoutCancel(ctx), u.ID, u.Offset, u.Offset+n, state); err != nil {
		return u, err
	}
	u.Offset += n
	u.HashState = state
	return u, copyErr
}

func (r *Registry) patchUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	defer r.lockUpload(rt.ref)()
	u, err := r.loadUpload(req.Context(), rt)
	if err != nil {
		return err
	}
	u, err = r.appendChunk(req, rt, u)
	if err != nil {
		return err
	}
	setUploadHeaders(w.Header(), rt.name, u)
	w.WriteHeader(http.StatusAccepted)
	return nil
}

// putUpload completes a session: append the optional final chunk, verify
// the digest over everything received, commit.
func (r *Registry) putUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigestParam(req.URL.Query().Get("digest"))
	if err != nil {
		return err
	}
	defer r.lockUpload(rt.ref)()
	ctx := req.Context()
	u, err := r.loadUpload(ctx, rt)
	if errors.Is(err, meta.ErrUploadNotFound) {
		// A final PUT replayed (by a proxy, after the replica that
		// committed it died before answering) finds its session gone; if
		// the blob it names is in the repository, it was committed.
		if _, berr := r.meta.BlobSize(ctx, rt.name, d); berr == nil {
			blobCreated(w, rt.name, d)
			return nil
		}
	}
	if err != nil {
		return err
	}
	if !r.replayedPut(req, u, d) {
		if u, err = r.appendChunk(req, rt, u); err != nil {
			return err
		}
	}
	if u.Offset == 0 { // an empty blob: make sure its (empty) file exists
		ew, err := r.blobs.Append(ctx, u.ID, 0)
		if err != nil {
			return err
		}
		if err := ew.Close(); err != nil {
			return err
		}
	}
	got, err := r.sessionDigest(ctx, u, d.Algorithm())
	if err != nil {
		return err
	}
	if got != d {
		// The bytes can never become this blob: drop the session rather
		// than leave its file behind.
		r.dropUpload(ctx, u.ID)
		return CodeDigestInvalid.Err("content digest %s does not match %s", got, d)
	}
	if err := r.commit(ctx, rt.name, u.ID, d, u.Offset, true); err != nil {
		return err
	}
	blobCreated(w, rt.name, d)
	return nil
}

// replayedPut reports whether a PUT's final chunk was already received:
// the session's bytes already have digest d, so appending a non-empty body
// could only make them wrong. That is a load balancer retrying the PUT on
// another replica after the one that took it recorded the chunk and died
// before answering (nginx retries a PUT whose body it holds). What was
// received is then committed as it is: it is exactly blob d. Only for
// sha256, whose digest comes from the persisted hash state for free.
func (r *Registry) replayedPut(req *http.Request, u meta.Upload, d digest.Digest) bool {
	if u.Offset == 0 || req.ContentLength <= 0 || req.ContentLength > u.Offset || d.Algorithm() != oci.SHA256 {
		return false
	}
	got, err := r.sessionDigest(req.Context(), u, d.Algorithm())
	return err == nil && got == d
}

// sessionDigest returns the digest of a session's bytes: from the persisted
// sha256 state, or for another algorithm by reading the bytes back once.
func (r *Registry) sessionDigest(ctx context.Context, u meta.Upload, alg digest.Algorithm) (digest.Digest, error) {
	if alg == oci.SHA256 {
		h := sha256.New()
		if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(u.HashState); err != nil {
			return "", fmt.Errorf("upload %s: hash state: %w", u.ID, err)
		}
		return digest.NewDigest(alg, h), nil
	}
	h, err := oci.NewHash(alg)
	if err != nil {
		return "", CodeDigestInvalid.Err("unsupported digest algorithm")
	}
	rc, err := r.blobs.ReadUpload(ctx, u.ID)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	bp := r.copyBufs.Get().(*[]byte)
	defer r.copyBufs.Put(bp)
	n, err := io.CopyBuffer(h, io.LimitReader(rc, u.Offset), *bp)
	if err != nil {
		return "", err
	}
	if n != u.Offset {
		return "", fmt.Errorf("upload %s: storage holds %d bytes, expected %d", u.ID, n, u.Offset)
	}
	return digest.NewDigest(alg, h), nil
}

func (r *Registry) dropUpload(ctx context.Context, id string) {
	ctx = context.WithoutCancel(ctx)
	if err := r.meta.DeleteUpload(ctx, id); err != nil && !errors.Is(err, meta.ErrUploadNotFound) {
		r.log.WarnContext(ctx, "dropping upload session", "upload", id, "err", err)
	}
	if err := r.blobs.Abort(ctx, id); err != nil {
		r.log.WarnContext(ctx, "removing upload bytes", "upload", id, "err", err)
	}
}

func (r *Registry) cancelUpload(w http.ResponseWriter, req *http.Request, rt route) error {
	defer r.lockUpload(rt.ref)()
	if _, err := r.loadUpload(req.Context(), rt); err != nil {
		return err
	}
	r.dropUpload(req.Context(), rt.ref)
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusNoContent)
	return nil
}
