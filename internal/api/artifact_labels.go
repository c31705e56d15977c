package api

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// artifactLabels returns the labels of arts, by digest, when the request
// asks with_label=true; nil otherwise, which leaves each artifact's labels
// null as Harbor does.
func (s *Server) artifactLabels(r *http.Request, repo string, arts ...meta.ArtifactInfo) (map[digest.Digest][]label, error) {
	v := r.URL.Query().Get("with_label")
	if v == "" {
		return nil, nil
	}
	want, err := strconv.ParseBool(v)
	if err != nil {
		return nil, errBadRequest("with_label must be true or false")
	}
	if !want {
		return nil, nil
	}
	ds := make([]digest.Digest, 0, len(arts))
	for _, a := range arts {
		ds = append(ds, a.Digest)
	}
	byDigest, err := s.opt.Catalog.ArtifactLabels(r.Context(), repo, ds)
	if err != nil {
		return nil, err
	}
	out := make(map[digest.Digest][]label, len(ds))
	for _, d := range ds {
		ls := make([]label, 0, len(byDigest[d]))
		for i := range byDigest[d] {
			ls = append(ls, labelJSON(&byDigest[d][i]))
		}
		out[d] = ls
	}
	return out, nil
}

// withLabels sets a's labels from those artifactLabels returned.
func withLabels(a artifact, labels map[digest.Digest][]label) artifact {
	if labels != nil {
		a.Labels = labels[digest.Digest(a.Digest)]
	}
	return a
}

// addLabel: POST .../artifacts/{reference}/labels {"id": …}. The label may
// be global or one of the artifact's project.
func (s *Server) addLabel(w http.ResponseWriter, r *http.Request) error {
	p, repo, a, err := s.artifactFor(r, rbac.AddArtifactLabel)
	if err != nil {
		return err
	}
	var req struct {
		ID int64 `json:"id"`
	}
	if err := readJSON(r, &req); err != nil {
		return err
	}
	if req.ID <= 0 {
		return errBadRequest("the label's id is required")
	}
	missing := errNotFound(fmt.Sprintf("label %d not found in project %s", req.ID, p.Name))
	l, err := s.opt.Catalog.GetLabel(r.Context(), req.ID)
	if isNotFound(err) {
		return missing
	} else if err != nil {
		return err
	}
	if l.Scope == meta.LabelScopeProject && l.ProjectID != p.ID {
		return missing
	}
	err = s.opt.Catalog.AddArtifactLabel(r.Context(), repo, a.Digest, l.ID)
	switch {
	case errors.Is(err, meta.ErrConflict):
		return errConflict(fmt.Sprintf("label %d is already added to the artifact %s", l.ID, a.Digest))
	case errors.Is(err, meta.ErrManifestNotFound):
		return errNotFound(fmt.Sprintf("artifact %s@%s not found", repo, a.Digest))
	case isNotFound(err):
		return missing
	case err != nil:
		return err
	}
	s.record(r.Context(), r, "create", "artifact-label", fmt.Sprintf("%s@%s label %s", repo, a.Digest, l.Name), p)
	return ok(w)
}

// removeLabel: DELETE .../artifacts/{reference}/labels/{label_id}.
func (s *Server) removeLabel(w http.ResponseWriter, r *http.Request) error {
	p, repo, a, err := s.artifactFor(r, rbac.RemoveArtifactLabel)
	if err != nil {
		return err
	}
	id, err := strconv.ParseInt(r.PathValue("label_id"), 10, 64)
	if err != nil || id <= 0 {
		return errBadRequest("invalid label id " + r.PathValue("label_id"))
	}
	if err := s.opt.Catalog.RemoveArtifactLabel(r.Context(), repo, a.Digest, id); isNotFound(err) {
		return errNotFound(fmt.Sprintf("label %d is not added to the artifact %s", id, a.Digest))
	} else if err != nil {
		return err
	}
	name := strconv.FormatInt(id, 10) // the label's name, for the record, if it is still there
	if l, err := s.opt.Catalog.GetLabel(r.Context(), id); err == nil {
		name = l.Name
	}
	s.record(r.Context(), r, "delete", "artifact-label", fmt.Sprintf("%s@%s label %s", repo, a.Digest, name), p)
	return ok(w)
}
