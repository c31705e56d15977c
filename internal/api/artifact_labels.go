package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/opencontainers/go-digest"

	"github.com/berth-registry/berth/internal/meta"
	"github.com/berth-registry/berth/internal/rbac"
)

// fillLabels sets the labels of arts, artifacts of repo (with_label=true),
// with one query.
func (s *Server) fillLabels(ctx context.Context, repo string, arts []artifact) error {
	ds := make([]digest.Digest, 0, len(arts))
	for i := range arts {
		ds = append(ds, digest.Digest(arts[i].Digest))
	}
	byDigest, err := s.opt.Catalog.ArtifactLabels(ctx, repo, ds)
	if err != nil {
		return err
	}
	for i := range arts {
		ls := byDigest[digest.Digest(arts[i].Digest)]
		arts[i].Labels = make([]label, 0, len(ls))
		for j := range ls {
			arts[i].Labels = append(arts[i].Labels, labelJSON(&ls[j]))
		}
	}
	return nil
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
