package registry

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

func parseDigestParam(s string) (digest.Digest, error) {
	d, err := oci.ParseDigest(s)
	if err != nil {
		return "", CodeDigestInvalid.Err("invalid digest %q", s)
	}
	return d, nil
}

// getBlob serves GET and HEAD. HEAD is one indexed query; GET adds one
// open(2) and streams with http.ServeContent (Range, If-None-Match; the
// *os.File underneath lets net/http use sendfile).
func (r *Registry) getBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigestParam(rt.ref)
	if err != nil {
		return err
	}
	ctx := req.Context()
	size, err := r.meta.BlobSize(ctx, rt.name, d)
	if errors.Is(err, meta.ErrBlobNotFound) && r.opt.Proxy != nil && r.opt.Proxy.Proxied(rt.name) {
		return r.proxyBlob(w, req, rt.name, d)
	}
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("Docker-Content-Digest", string(d))
	h.Set("ETag", `"`+string(d)+`"`)
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Cache-Control", "max-age=31536000")
	h.Set("Accept-Ranges", "bytes")
	if req.Method == http.MethodHead {
		h.Set("Content-Length", strconv.FormatInt(size, 10))
		return nil
	}
	if rd := r.redirector(); rd != nil { // an object store serves the bytes itself
		return r.redirectBlob(w, req, rd, d)
	}
	f, err := r.blobs.Open(ctx, d)
	if err != nil {
		// Linked in the database but absent from storage: a broken
		// invariant worth a log line, but the client just sees "unknown".
		r.log.ErrorContext(ctx, "linked blob missing from storage", "repo", rt.name, "digest", d, "err", err)
		h.Del("ETag")
		return CodeBlobUnknown.Err("blob unknown to registry")
	}
	defer f.Close()
	http.ServeContent(w, req, "", time.Time{}, f)
	return nil
}

func (r *Registry) deleteBlob(w http.ResponseWriter, req *http.Request, rt route) error {
	if err := r.checkDelete(); err != nil {
		return err
	}
	d, err := parseDigestParam(rt.ref)
	if err != nil {
		return err
	}
	if err := r.meta.UnlinkBlob(req.Context(), rt.name, d); err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	r.audit(req, "delete", "blob", rt.name, string(d))
	return nil
}
