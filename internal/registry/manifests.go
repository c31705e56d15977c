package registry

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/events"
	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/oci"
)

// parseReference validates a manifest reference: a digest or a tag.
func parseReference(ref string) (isDigest bool, err error) {
	if oci.IsDigest(ref) {
		if _, err := oci.ParseDigest(ref); err != nil {
			return true, CodeDigestInvalid.Err("invalid digest %q", ref)
		}
		return true, nil
	}
	if !oci.ValidTag(ref) {
		return false, CodeManifestInvalid.Err("invalid tag %q", ref)
	}
	return false, nil
}

// getManifest serves GET and HEAD with one indexed query.
func (r *Registry) getManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	isDigest, err := parseReference(rt.ref)
	if err != nil {
		return err
	}
	head := req.Method == http.MethodHead
	var m *meta.Manifest
	if r.opt.Proxy != nil && r.opt.Proxy.Proxied(rt.name) {
		m, err = r.opt.Proxy.Manifest(req.Context(), rt.name, rt.ref, !head)
	} else {
		m, err = r.meta.GetManifest(req.Context(), rt.name, rt.ref, !head)
	}
	if err != nil {
		return err
	}
	if !head && r.opt.PullPolicy != nil {
		if err := r.opt.PullPolicy.CheckPull(req, rt.name, m); err != nil {
			return err
		}
	}
	h := w.Header()
	etag := `"` + string(m.Digest) + `"`
	h.Set("Content-Type", m.MediaType)
	h.Set("Docker-Content-Digest", string(m.Digest))
	h.Set("ETag", etag)
	if inm := req.Header.Get("If-None-Match"); inm != "" && inm == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	h.Set("Content-Length", strconv.FormatInt(m.Size, 10))
	if !head {
		_, _ = w.Write(m.Body)
		r.audit(req, "pull", "artifact", rt.name, rt.ref)
		if r.opt.Events.Wants(events.PullArtifact) {
			var tags []string
			if !isDigest {
				tags = []string{rt.ref}
			}
			r.publish(req, events.Event{Type: events.PullArtifact, Repo: rt.name, Digest: m.Digest, Tags: tags, MediaType: m.MediaType, Size: m.Size})
		}
		if r.opt.Pulls != nil {
			tag := rt.ref
			if isDigest {
				tag = ""
			}
			r.opt.Pulls.Pulled(req.Context(), rt.name, tag, m.Digest)
		}
	}
	return nil
}

// putManifest validates and stores a manifest, tagging it with the path
// reference (if a tag) and every ?tag= parameter.
func (r *Registry) putManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	isDigest, err := parseReference(rt.ref)
	if err != nil {
		return err
	}
	var tags []string
	if !isDigest {
		tags = append(tags, rt.ref)
	}
	for _, t := range req.URL.Query()["tag"] {
		if !oci.ValidTag(t) {
			return CodeManifestInvalid.Err("invalid tag %q", t)
		}
		tags = append(tags, t)
	}
	body, err := r.readManifestBody(req)
	if err != nil {
		return err
	}
	parsed, err := oci.ParseManifest(req.Header.Get("Content-Type"), body)
	if err != nil {
		return CodeManifestInvalid.Err("%v", err)
	}
	alg := oci.SHA256
	if isDigest {
		alg = digest.Digest(rt.ref).Algorithm()
	}
	d := alg.FromBytes(body)
	if isDigest && d != digest.Digest(rt.ref) {
		return CodeDigestInvalid.Err("manifest digest %s does not match %s", d, rt.ref)
	}
	m := &meta.Manifest{
		Repo: rt.name, Digest: d, MediaType: parsed.MediaType, Size: int64(len(body)), Body: body,
		ArtifactType: parsed.ArtifactType, Annotations: parsed.Annotations, Refs: parsed.Refs,
	}
	if parsed.Subject != nil {
		m.Subject = parsed.Subject.Digest
	}
	if err := r.opt.Tags.PutManifest(req.Context(), m, tags); err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Location", "/v2/"+rt.name+"/manifests/"+string(d))
	hd.Set("Docker-Content-Digest", string(d))
	if m.Subject != "" {
		hd.Set("OCI-Subject", string(m.Subject))
	}
	for _, t := range req.URL.Query()["tag"] {
		hd.Add("OCI-Tag", t)
	}
	hd.Set("Content-Length", "0")
	w.WriteHeader(http.StatusCreated)
	r.audit(req, "push", "artifact", rt.name, string(d))
	for _, t := range tags {
		r.audit(req, "create", "tag", rt.name, t)
	}
	r.publish(req, events.Event{Type: events.PushArtifact, Repo: rt.name, Digest: d, Tags: tags, MediaType: m.MediaType, Size: m.Size})
	return nil
}

// readManifestBody reads at most MaxManifestSize bytes; a larger body is
// refused with 413 without reading it all.
func (r *Registry) readManifestBody(req *http.Request) ([]byte, error) {
	limit := r.opt.MaxManifestSize
	tooLarge := &Error{Code: CodeManifestInvalid, Status: http.StatusRequestEntityTooLarge,
		Message: "manifest exceeds the maximum size of " + strconv.FormatInt(limit, 10) + " bytes"}
	if req.ContentLength > limit {
		return nil, tooLarge
	}
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(req.ContentLength))
	}
	n, err := buf.ReadFrom(io.LimitReader(req.Body, limit+1))
	if err != nil {
		return nil, bodyReadErr(CodeManifestInvalid, "reading manifest", err)
	}
	if n > limit {
		return nil, tooLarge
	}
	if req.ContentLength >= 0 && n != req.ContentLength {
		return nil, CodeManifestInvalid.Err("manifest body is %d bytes, Content-Length says %d", n, req.ContentLength)
	}
	return buf.Bytes(), nil
}

func (r *Registry) deleteManifest(w http.ResponseWriter, req *http.Request, rt route) error {
	if err := r.checkDelete(); err != nil {
		return err
	}
	isDigest, err := parseReference(rt.ref)
	if err != nil {
		return err
	}
	if isDigest {
		err = r.opt.Tags.DeleteManifest(req.Context(), rt.name, digest.Digest(rt.ref))
	} else {
		err = r.opt.Tags.DeleteTag(req.Context(), rt.name, rt.ref)
	}
	if errors.Is(err, meta.ErrTagNotFound) {
		return CodeManifestUnknown.Err("tag %q unknown", rt.ref)
	}
	if err != nil {
		return err
	}
	w.Header().Set("Content-Length", "0")
	w.WriteHeader(http.StatusAccepted)
	if isDigest {
		r.audit(req, "delete", "artifact", rt.name, rt.ref)
		r.publish(req, events.Event{Type: events.DeleteArtifact, Repo: rt.name, Digest: digest.Digest(rt.ref)})
	} else {
		r.audit(req, "delete", "tag", rt.name, rt.ref)
		r.publish(req, events.Event{Type: events.DeleteTag, Repo: rt.name, Tags: []string{rt.ref}})
	}
	return nil
}
