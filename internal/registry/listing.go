package registry

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/berth-registry/berth/internal/oci"
)

// pageParams reads n and last. Without n the page is MaxPageSize; a larger
// n is clamped to it (the Link header then tells the client to go on).
func (r *Registry) pageParams(req *http.Request) (n int, last string, err error) {
	q := req.URL.Query()
	n = r.opt.MaxPageSize
	if s := q.Get("n"); s != "" {
		v, perr := strconv.Atoi(s)
		if perr != nil || v < 0 {
			return 0, "", &Error{Code: CodeUnsupported, Status: http.StatusBadRequest, Message: "n must be a non-negative integer"}
		}
		n = min(v, r.opt.MaxPageSize)
	}
	return n, q.Get("last"), nil
}

// nextLink is the RFC 5988 Link to the page after last.
func nextLink(path, last string, n int) string {
	v := url.Values{"last": {last}, "n": {strconv.Itoa(n)}}
	return "<" + path + "?" + v.Encode() + `>; rel="next"`
}

func writeJSON(w http.ResponseWriter, contentType string, v any) error {
	body, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = w.Write(body)
	return nil
}

// page fetches one page of names with fetch and sets the Link header when
// more follow. It asks for one extra row to learn whether a next page exists.
func (r *Registry) page(w http.ResponseWriter, req *http.Request, path string,
	fetch func(ctx context.Context, last string, n int) ([]string, error)) ([]string, error) {
	n, last, err := r.pageParams(req)
	if err != nil || n == 0 {
		return []string{}, err
	}
	names, err := fetch(req.Context(), last, n+1)
	if err != nil {
		return nil, err
	}
	if len(names) > n {
		names = names[:n]
		w.Header().Set("Link", nextLink(path, names[n-1], n))
	}
	return names, nil
}

// listTags pages through a repository's tags with one index range scan.
func (r *Registry) listTags(w http.ResponseWriter, req *http.Request, rt route) error {
	tags, err := r.page(w, req, "/v2/"+rt.name+"/tags/list", func(ctx context.Context, last string, n int) ([]string, error) {
		return r.meta.Tags(ctx, rt.name, last, n)
	})
	if err != nil {
		return err
	}
	return writeJSON(w, "application/json", struct {
		Name string   `json:"name"`
		Tags []string `json:"tags"`
	}{rt.name, tags})
}

func (r *Registry) catalog(w http.ResponseWriter, req *http.Request, _ route) error {
	repos, err := r.page(w, req, "/v2/_catalog", r.meta.Repositories)
	if err != nil {
		return err
	}
	return writeJSON(w, "application/json", struct {
		Repositories []string `json:"repositories"`
	}{repos})
}

// referrers answers with an image index of the manifests whose subject is
// the digest, a page at a time (n and last as for tags; at most
// MaxPageSize); an unknown subject yields an empty index, as the spec says.
func (r *Registry) referrers(w http.ResponseWriter, req *http.Request, rt route) error {
	d, err := parseDigestParam(rt.ref)
	if err != nil {
		return err
	}
	at := req.URL.Query().Get("artifactType")
	n, last, err := r.pageParams(req)
	if err != nil {
		return err
	}
	descs := []oci.Descriptor{}
	if n > 0 {
		// One extra row tells whether a next page exists; the spec's Link
		// header carries the client on (oras, regclient and crane follow it).
		if descs, err = r.meta.Referrers(req.Context(), rt.name, d, at, last, n+1); err != nil {
			return err
		}
	}
	if len(descs) > n {
		descs = descs[:n]
		v := url.Values{"last": {string(descs[n-1].Digest)}, "n": {strconv.Itoa(n)}}
		if at != "" {
			v.Set("artifactType", at)
		}
		w.Header().Set("Link", "</v2/"+rt.name+"/referrers/"+string(d)+"?"+v.Encode()+`>; rel="next"`)
	}
	if at != "" {
		w.Header().Set("OCI-Filters-Applied", "artifactType")
	}
	return writeJSON(w, oci.MediaTypeImageIndex, struct {
		SchemaVersion int              `json:"schemaVersion"`
		MediaType     string           `json:"mediaType"`
		Manifests     []oci.Descriptor `json:"manifests"`
	}{2, oci.MediaTypeImageIndex, descs})
}
