package registry

import (
	"net/http"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/blob"
)

// redirector returns the store's presigned-URL capability when blob GETs
// should be redirected (Options.RedirectTTL > 0), else nil.
func (r *Registry) redirector() blob.Redirector {
	if rd, ok := r.blobs.(blob.Redirector); ok && r.opt.RedirectTTL > 0 {
		return rd
	}
	return nil
}

// redirectBlob answers a blob GET with 307 to a URL of the store that
// serves the bytes (Range included) for RedirectTTL. The answer must not
// outlive the URL, so it is not cacheable and keeps no ETag.
func (r *Registry) redirectBlob(w http.ResponseWriter, req *http.Request, rd blob.Redirector, d digest.Digest) error {
	u, err := rd.RedirectURL(req.Context(), d, r.opt.RedirectTTL)
	if err != nil {
		return err
	}
	h := w.Header()
	for _, k := range []string{"ETag", "Content-Type", "Accept-Ranges"} {
		h.Del(k)
	}
	h.Set("Cache-Control", "no-store")
	h.Set("Location", u)
	w.WriteHeader(http.StatusTemporaryRedirect)
	return nil
}
